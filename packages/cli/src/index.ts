export { parseStream } from "./commands/parse.js";
