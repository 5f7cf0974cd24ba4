export { LineSplitter } from "./lines.js";
export { decodeHex, tokenize, untrustedString } from "./fields.js";
export type { DropReason, InputFormat } from "./line-form.js";
export { AuditParser, type AuditKind, type ParsedEvent, type ParserOptions, type ParserStats } from "./parser.js";
