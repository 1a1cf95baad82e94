// Loaded into OpenClaw's node with --import: the wall clock starts at CLAWHOST_PIN_CLOCK
// (an ISO time) when the process starts and then runs at the normal rate. OpenClaw stamps each
// user message with the minute it arrived, so two runs of the same turn send byte-identical
// requests only within one minute; pinning the start makes a repeated turn repeat exactly.
// Timers and performance.now() are untouched.
const target = Date.parse(process.env.CLAWHOST_PIN_CLOCK || "");
if (!Number.isNaN(target)) {
  const Real = Date;
  const offset = target - Real.now();
  class PinnedDate extends Real {
    constructor(...args) {
      if (args.length === 0) super(Real.now() + offset);
      else super(...args);
    }
    static now() { return Real.now() + offset; }
  }
  globalThis.Date = PinnedDate;
}
