// Loaded into a daemon with NODE_OPTIONS=--import: shifts the process's wall clock by
// SECPROF_TEST_CLOCK_SKEW_MS, as a node whose clock is off would be (libfaketime for Node's Date).
// Monotonic time (performance.now, timers) is unaffected, as on a real node.
const skew = Number(process.env.SECPROF_TEST_CLOCK_SKEW_MS ?? "0");
const RealDate = Date;
class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + skew);
    else super(...args);
  }
  static now() {
    return RealDate.now() + skew;
  }
}
globalThis.Date = SkewedDate;
