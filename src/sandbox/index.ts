// The sandbox: a trial without DNS or a mail server. Mail runs the whole pipeline and is captured.
export { CaptureTransport, captureBinding, simulatedServer } from './capture.ts';
export { type SandboxDeps, sandboxRoutes } from './routes.ts';
