// Kiln prelude: setTimeout / setInterval / clearTimeout / clearInterval / queueMicrotask.
// The host keeps the clock: host.scheduleTimer(id, delayMs) and host.cancelTimer(id);
// when a timer is due Rust calls internal.fireTimer(id).

const MAX_TIMER_DELAY = 2147483647;

/** id -> { fn, args, repeat, delay } */
const timers = new MapCtor();
let nextTimerId = 1;

function normalizeDelay(delay) {
  let d = NumberCtor(delay);
  if (!(d >= 0)) d = 0; // NaN, negatives
  if (d > MAX_TIMER_DELAY) d = MAX_TIMER_DELAY;
  return MathTrunc(d);
}

function startTimer(fn, delay, args, repeat) {
  const id = nextTimerId;
  nextTimerId = nextTimerId >= 2147483647 ? 1 : nextTimerId + 1;
  const d = normalizeDelay(delay);
  MapPrototypeSet(timers, id, { __proto__: null, fn, args, repeat, delay: d });
  hostScheduleTimer(id, d);
  return id;
}

function clearTimer(id) {
  // Like the Web, any value is accepted; unknown ids are ignored.
  if (typeof id !== "number") {
    if (typeof id === "symbol" || id === undefined || id === null) return;
    id = NumberCtor(id);
  }
  if (MapPrototypeDelete(timers, id)) hostCancelTimer(id);
}

function checkTimerCallback(fn, what) {
  if (typeof fn !== "function") {
    throw new TypeErrorCtor(`${what}: the callback must be a function (string callbacks are not supported)`);
  }
}

function setTimeout(callback, delay = 0, ...args) {
  checkTimerCallback(callback, "setTimeout");
  return startTimer(callback, delay, args, false);
}

function setInterval(callback, delay = 0, ...args) {
  checkTimerCallback(callback, "setInterval");
  return startTimer(callback, delay, args, true);
}

function clearTimeout(id = undefined) {
  clearTimer(id);
}

function clearInterval(id = undefined) {
  clearTimer(id);
}

function queueMicrotask(callback) {
  requireArgs(arguments.length, 1, "queueMicrotask");
  if (typeof callback !== "function") throw new TypeErrorCtor("queueMicrotask: the callback must be a function");
  nativeQueueMicrotask(() => {
    try {
      callback();
    } catch (err) {
      reportException(err);
    }
  });
}

/** Called by the host when timer `id` is due. */
internal.fireTimer = function fireTimer(id) {
  const timer = MapPrototypeGet(timers, id);
  if (timer === undefined) return;
  if (!timer.repeat) MapPrototypeDelete(timers, id);
  try {
    ReflectApply(timer.fn, global, timer.args);
  } catch (err) {
    reportException(err);
  }
  // An interval re-arms itself unless its callback cleared it.
  if (timer.repeat && MapPrototypeGet(timers, id) === timer) hostScheduleTimer(id, timer.delay);
};

/** Number of timers scheduled and not yet fired or cleared. */
internal.pendingTimers = function pendingTimers() {
  return MapPrototypeGetSize(timers);
};

/** Forget every timer (e.g. when the isolate is recycled); the host cancels its side itself. */
internal.clearTimers = function clearTimers() {
  MapPrototypeClear(timers);
};

defineGlobal("setTimeout", setTimeout);
defineGlobal("setInterval", setInterval);
defineGlobal("clearTimeout", clearTimeout);
defineGlobal("clearInterval", clearInterval);
defineGlobal("queueMicrotask", queueMicrotask);
