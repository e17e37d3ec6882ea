// The sandbox: a trial without DNS or a mail server. Mail runs the whole pipeline and is captured.
export { CaptureTransport, captureBinding, simulatedServer } from './capture.ts';
export { type SandboxDeps, sandboxRoutes } from './routes.ts';
export { DEMO_DOMAIN, DEMO_FROM, DEMO_RECIPIENTS, type DemoSetup, demoCommands, setUpDemo } from './demo.ts';
export { checkInstanceMode, instanceMode, type Mode, setInstanceMode } from './mode.ts';
