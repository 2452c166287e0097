// Kiln prelude: Event, CustomEvent, EventTarget, AbortController, AbortSignal (minimal, no DOM tree).

const perfNowForEvents = (() => {
  const perf = global.performance;
  return perf !== undefined && typeof perf.now === "function" ? FunctionPrototypeBind.call(perf.now, perf) : DateNow;
})();

let eventBeginDispatch; // (event, target, trusted) => boolean (false if already dispatching)
let eventEndDispatch; // (event) => void
let eventStoppedImmediately; // (event) => boolean
let eventSetPassive; // (event, passive) => void
let isEvent; // (v) => boolean

class Event {
  #type;
  #bubbles;
  #cancelable;
  #composed;
  #timeStamp;
  #defaultPrevented = false;
  #stopPropagation = false;
  #stopImmediate = false;
  #inPassiveListener = false;
  #dispatching = false;
  #isTrusted = false;
  #target = null;
  #currentTarget = null;
  #phase = 0;

  static {
    eventBeginDispatch = (e, target, trusted) => {
      if (e.#dispatching) return false;
      e.#dispatching = true;
      e.#isTrusted = trusted;
      e.#target = target;
      e.#currentTarget = target;
      e.#phase = 2;
      e.#stopPropagation = false;
      e.#stopImmediate = false;
      return true;
    };
    eventEndDispatch = (e) => {
      e.#dispatching = false;
      e.#currentTarget = null;
      e.#phase = 0;
      e.#inPassiveListener = false;
    };
    eventStoppedImmediately = (e) => e.#stopImmediate;
    eventSetPassive = (e, passive) => {
      e.#inPassiveListener = passive;
    };
    isEvent = (v) => isObjectLike(v) && #type in v;
    platformBrandChecks[platformBrandChecks.length] = isEvent;
  }

  constructor(type, init = undefined) {
    requireArgs(arguments.length, 1, "Event constructor");
    if (init !== undefined && init !== null && !isObjectLike(init)) throw new TypeErrorCtor("Event: init must be an object");
    this.#type = toDOMString(type);
    this.#bubbles = init != null && !!init.bubbles;
    this.#cancelable = init != null && !!init.cancelable;
    this.#composed = init != null && !!init.composed;
    this.#timeStamp = perfNowForEvents();
  }

  get type() {
    return this.#type;
  }
  get target() {
    return this.#target;
  }
  get srcElement() {
    return this.#target;
  }
  get currentTarget() {
    return this.#currentTarget;
  }
  get eventPhase() {
    return this.#phase;
  }
  get bubbles() {
    return this.#bubbles;
  }
  get cancelable() {
    return this.#cancelable;
  }
  get composed() {
    return this.#composed;
  }
  get defaultPrevented() {
    return this.#defaultPrevented;
  }
  get isTrusted() {
    return this.#isTrusted;
  }
  get timeStamp() {
    return this.#timeStamp;
  }
  get returnValue() {
    return !this.#defaultPrevented;
  }
  set returnValue(value) {
    if (!value) this.preventDefault();
  }
  get cancelBubble() {
    return this.#stopPropagation;
  }
  set cancelBubble(value) {
    if (value) this.#stopPropagation = true;
  }
  composedPath() {
    return this.#currentTarget === null ? [] : [this.#currentTarget];
  }
  preventDefault() {
    if (this.#cancelable && !this.#inPassiveListener) this.#defaultPrevented = true;
  }
  stopPropagation() {
    this.#stopPropagation = true;
  }
  stopImmediatePropagation() {
    this.#stopPropagation = true;
    this.#stopImmediate = true;
  }

  [kInspect]() {
    return {
      type: this.#type, defaultPrevented: this.#defaultPrevented, cancelable: this.#cancelable,
      timeStamp: this.#timeStamp,
    };
  }
}
{
  const phases = ["NONE", "CAPTURING_PHASE", "AT_TARGET", "BUBBLING_PHASE"];
  for (let i = 0; i < phases.length; i++) {
    ObjectDefineProperty(Event, phases[i], { __proto__: null, value: i, enumerable: true });
    ObjectDefineProperty(Event.prototype, phases[i], { __proto__: null, value: i, enumerable: true });
  }
}
defineToStringTag(Event.prototype, "Event");

class CustomEvent extends Event {
  #detail;
  constructor(type, init = undefined) {
    requireArgs(arguments.length, 1, "CustomEvent constructor");
    super(type, init);
    this.#detail = init != null && isObjectLike(init) ? init.detail ?? null : null;
  }
  get detail() {
    return this.#detail;
  }
}
defineToStringTag(CustomEvent.prototype, "CustomEvent");

function flattenListenerOptions(options) {
  if (isObjectLike(options)) return !!options.capture;
  return !!options;
}

let eventTargetDispatch; // (target, event, trusted) => boolean

class EventTarget {
  #listeners = new MapCtor(); // type -> array of listener records

  static {
    eventTargetDispatch = (target, event, trusted) => target.#dispatch(event, trusted);
    platformBrandChecks[platformBrandChecks.length] = (v) => isObjectLike(v) && #listeners in v;
  }

  addEventListener(type, callback, options = undefined) {
    requireArgs(arguments.length, 2, "EventTarget.addEventListener");
    const t = toDOMString(type);
    if (callback === null || callback === undefined) return;
    if (!isObjectLike(callback)) throw new TypeErrorCtor("EventTarget.addEventListener: the listener must be a function or an object");
    let capture = false;
    let once = false;
    let passive = false;
    let signal = null;
    if (isObjectLike(options)) {
      capture = !!options.capture;
      once = !!options.once;
      passive = !!options.passive;
      const s = options.signal;
      if (s !== undefined) {
        if (!isAbortSignal(s)) throw new TypeErrorCtor("EventTarget.addEventListener: options.signal must be an AbortSignal");
        signal = s;
      }
    } else {
      capture = !!options;
    }
    if (signal !== null && abortSignalIsAborted(signal)) return;
    let list = MapPrototypeGet(this.#listeners, t);
    if (list === undefined) {
      list = [];
      MapPrototypeSet(this.#listeners, t, list);
    }
    for (let i = 0; i < list.length; i++) {
      if (list[i].callback === callback && list[i].capture === capture) return;
    }
    const record = { __proto__: null, callback, capture, once, passive, removed: false };
    list[list.length] = record;
    if (signal !== null) {
      abortSignalAddAlgorithm(signal, () => this.#remove(t, record));
    }
  }

  removeEventListener(type, callback, options = undefined) {
    requireArgs(arguments.length, 2, "EventTarget.removeEventListener");
    const t = toDOMString(type);
    const capture = flattenListenerOptions(options);
    const list = MapPrototypeGet(this.#listeners, t);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      if (list[i].callback === callback && list[i].capture === capture) {
        this.#remove(t, list[i]);
        return;
      }
    }
  }

  #remove(type, record) {
    record.removed = true;
    const list = MapPrototypeGet(this.#listeners, type);
    if (list === undefined) return;
    const i = ArrayPrototypeIndexOf(list, record);
    if (i !== -1) removeAt(list, i);
  }

  dispatchEvent(event) {
    requireArgs(arguments.length, 1, "EventTarget.dispatchEvent");
    if (!isEvent(event)) throw new TypeErrorCtor("EventTarget.dispatchEvent: the argument must be an Event");
    return this.#dispatch(event, false);
  }

  #dispatch(event, trusted) {
    if (!eventBeginDispatch(event, this, trusted)) {
      throw new DOMExceptionCtor("The event is already being dispatched", "InvalidStateError");
    }
    try {
      const list = MapPrototypeGet(this.#listeners, event.type);
      if (list !== undefined) {
        const snapshot = copyArray(list);
        for (let i = 0; i < snapshot.length; i++) {
          const record = snapshot[i];
          if (record.removed) continue;
          if (record.once) this.#remove(event.type, record);
          eventSetPassive(event, record.passive);
          try {
            const cb = record.callback;
            if (typeof cb === "function") {
              ReflectApply(cb, this, [event]);
            } else {
              const handler = cb.handleEvent;
              if (typeof handler !== "function") throw new TypeErrorCtor("The event listener has no handleEvent method");
              ReflectApply(handler, cb, [event]);
            }
          } catch (err) {
            reportException(err);
          }
          eventSetPassive(event, false);
          if (eventStoppedImmediately(event)) break;
        }
      }
    } finally {
      eventEndDispatch(event);
    }
    return !event.defaultPrevented;
  }
}
defineToStringTag(EventTarget.prototype, "EventTarget");

const kAbortSignalToken = { __proto__: null };

let createAbortSignal; // () => AbortSignal (never aborted until signalled)
let abortSignalAbort; // (signal, reason) => void
let abortSignalIsAborted; // (signal) => boolean
let abortSignalReason; // (signal) => any
let abortSignalAddAlgorithm; // (signal, fn) => void
let isAbortSignal; // (v) => boolean

function defaultAbortReason() {
  return new DOMExceptionCtor("This operation was aborted", "AbortError");
}

class AbortSignal extends EventTarget {
  #aborted = false;
  #reason = undefined;
  #algorithms = [];
  #onabort = null;
  #onabortInstalled = false;

  static {
    createAbortSignal = () => new AbortSignal(kAbortSignalToken);
    abortSignalAbort = (s, reason) => s.#signalAbort(reason);
    abortSignalIsAborted = (s) => s.#aborted;
    abortSignalReason = (s) => s.#reason;
    abortSignalAddAlgorithm = (s, fn) => {
      if (!s.#aborted) s.#algorithms[s.#algorithms.length] = fn;
    };
    isAbortSignal = (v) => isObjectLike(v) && #aborted in v;
  }

  constructor(token) {
    if (token !== kAbortSignalToken) throw new TypeErrorCtor("Illegal constructor");
    super();
  }

  static abort(reason = undefined) {
    const s = new AbortSignal(kAbortSignalToken);
    s.#aborted = true;
    s.#reason = reason === undefined ? defaultAbortReason() : reason;
    return s;
  }

  static timeout(milliseconds) {
    requireArgs(arguments.length, 1, "AbortSignal.timeout");
    const ms = NumberCtor(milliseconds);
    if (!NumberIsFinite(ms) || ms < 0 || ms > 9007199254740991) {
      throw new TypeErrorCtor("AbortSignal.timeout: milliseconds must be a non-negative finite number");
    }
    const s = new AbortSignal(kAbortSignalToken);
    startTimer(() => s.#signalAbort(new DOMExceptionCtor("The operation timed out", "TimeoutError")), MathTrunc(ms), [], false);
    return s;
  }

  static any(signals) {
    requireArgs(arguments.length, 1, "AbortSignal.any");
    const list = [];
    for (const s of signals) {
      if (!isAbortSignal(s)) throw new TypeErrorCtor("AbortSignal.any: every element must be an AbortSignal");
      list[list.length] = s;
    }
    const result = new AbortSignal(kAbortSignalToken);
    for (let i = 0; i < list.length; i++) {
      if (list[i].#aborted) {
        result.#aborted = true;
        result.#reason = list[i].#reason;
        return result;
      }
    }
    for (let i = 0; i < list.length; i++) {
      const source = list[i];
      source.#algorithms[source.#algorithms.length] = () => result.#signalAbort(source.#reason);
    }
    return result;
  }

  #signalAbort(reason) {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason === undefined ? defaultAbortReason() : reason;
    const algorithms = this.#algorithms;
    this.#algorithms = [];
    for (let i = 0; i < algorithms.length; i++) {
      try {
        algorithms[i]();
      } catch (err) {
        reportException(err);
      }
    }
    eventTargetDispatch(this, new Event("abort"), true);
  }

  get aborted() {
    return this.#aborted;
  }
  get reason() {
    return this.#reason;
  }
  throwIfAborted() {
    if (this.#aborted) throw this.#reason;
  }
  get onabort() {
    return this.#onabort;
  }
  set onabort(value) {
    this.#onabort = typeof value === "function" || isObjectLike(value) ? value : null;
    if (this.#onabort !== null && !this.#onabortInstalled) {
      this.#onabortInstalled = true;
      // Event handler attributes are listeners registered the first time they are set.
      this.addEventListener("abort", (event) => {
        const handler = this.#onabort;
        if (typeof handler === "function") ReflectApply(handler, this, [event]);
      });
    }
  }

  [kInspect]() {
    return { aborted: this.#aborted, reason: this.#reason };
  }
}
defineToStringTag(AbortSignal.prototype, "AbortSignal");

class AbortController {
  #signal = createAbortSignal();
  get signal() {
    return this.#signal;
  }
  abort(reason = undefined) {
    abortSignalAbort(this.#signal, reason);
  }
  [kInspect]() {
    return { signal: this.#signal };
  }
}
defineToStringTag(AbortController.prototype, "AbortController");

defineGlobal("Event", Event);
defineGlobal("CustomEvent", CustomEvent);
defineGlobal("EventTarget", EventTarget);
defineGlobal("AbortSignal", AbortSignal);
defineGlobal("AbortController", AbortController);
