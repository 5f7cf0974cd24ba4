export {
  SeccompAggregator,
  type SeccompAggregatorOptions,
  type SeccompSink,
  SyscallTally,
} from "./aggregator.js";
export { decodeHex, tokenize, untrustedString } from "./fields.js";
export type { DropReason, InputFormat } from "./line-form.js";
export { LineSplitter } from "./lines.js";
export {
  type AuditKind,
  AuditParser,
  type ParsedEvent,
  type ParserOptions,
  type ParserStats,
} from "./parser.js";
