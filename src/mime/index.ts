export { headerFields, type SplitMessage, splitMessage } from './split.ts';
