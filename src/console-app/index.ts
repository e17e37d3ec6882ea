export { CONSOLE_APP_PATH, consoleAppRoutes, DEFAULT_BUILD_DIR } from './routes.ts';
export { type BuiltFile, loadBuild } from './files.ts';
