// Kiln prelude: structuredClone (HTML structured serialize/deserialize, same-realm).

const CLONEABLE_ERROR_CTORS = {
  __proto__: null,
  Error: ErrorCtor,
  EvalError: EvalErrorCtor,
  RangeError: RangeErrorCtor,
  ReferenceError: ReferenceErrorCtor,
  SyntaxError: SyntaxErrorCtor,
  TypeError: TypeErrorCtor,
  URIError: URIErrorCtor,
};

function dataCloneError(what) {
  return new DOMExceptionCtor(`${what} could not be cloned.`, "DataCloneError");
}

function describeForCloneError(v) {
  if (typeof v === "function") return formatFunctionBase(v);
  if (typeof v === "symbol") return SymbolPrototypeToString(v);
  const name = getConstructorName(v);
  return name === null ? "#<Object>" : `#<${name}>`;
}

function defineHidden(obj, key, value) {
  ObjectDefineProperty(obj, key, { __proto__: null, value, writable: true, enumerable: false, configurable: true });
}

function cloneError(v, memory) {
  if (ObjectPrototypeIsPrototypeOf(DOMExceptionCtor.prototype, v)) {
    const out = new DOMExceptionCtor(toDOMString(v.message), toDOMString(v.name));
    MapPrototypeSet(memory, v, out);
    return out;
  }
  let name = v.name;
  name = typeof name === "string" && CLONEABLE_ERROR_CTORS[name] !== undefined ? name : "Error";
  const out = new CLONEABLE_ERROR_CTORS[name]();
  MapPrototypeSet(memory, v, out);
  const messageDesc = ObjectGetOwnPropertyDescriptor(v, "message");
  if (messageDesc !== undefined && ObjectHasOwn(messageDesc, "value")) defineHidden(out, "message", toDOMString(messageDesc.value));
  const stack = descValue(ObjectGetOwnPropertyDescriptor(v, "stack"));
  if (typeof stack === "string") defineHidden(out, "stack", stack);
  const causeDesc = ObjectGetOwnPropertyDescriptor(v, "cause");
  if (causeDesc !== undefined && ObjectHasOwn(causeDesc, "value")) defineHidden(out, "cause", cloneValue(causeDesc.value, memory));
  return out;
}

function cloneProperties(src, out, memory) {
  const keys = ObjectKeys(src);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (!ObjectHasOwn(src, key)) continue; // removed by a getter during the clone
    createDataProperty(out, key, cloneValue(src[key], memory));
  }
  return out;
}

function cloneValue(v, memory) {
  if (!isObjectLike(v)) {
    if (typeof v === "symbol") throw dataCloneError(describeForCloneError(v));
    return v;
  }
  const seen = MapPrototypeGet(memory, v);
  if (seen !== undefined) return seen;
  if (typeof v === "function") throw dataCloneError(describeForCloneError(v));

  const proto = ObjectGetPrototypeOf(v);
  if (proto === ObjectPrototype || proto === null) {
    const out = {};
    MapPrototypeSet(memory, v, out);
    return cloneProperties(v, out, memory);
  }
  if (ArrayIsArray(v)) {
    const out = new ArrayCtor(v.length);
    MapPrototypeSet(memory, v, out);
    return cloneProperties(v, out, memory);
  }
  const taName = typedArrayName(v);
  if (taName !== undefined) {
    const Ctor = TypedArrayCtors[taName];
    const buffer = cloneValue(TypedArrayPrototypeGetBuffer(v), memory);
    const out = new Ctor(buffer, TypedArrayPrototypeGetByteOffset(v), TypedArrayPrototypeGetLength(v));
    MapPrototypeSet(memory, v, out);
    return out;
  }
  if (isDataView(v)) {
    const buffer = cloneValue(DataViewPrototypeGetBuffer(v), memory);
    const out = new DataViewCtor(buffer, DataViewPrototypeGetByteOffset(v), DataViewPrototypeGetByteLength(v));
    MapPrototypeSet(memory, v, out);
    return out;
  }
  if (isArrayBuffer(v)) {
    if (ArrayBufferPrototypeGetDetached !== null && ArrayBufferPrototypeGetDetached(v)) {
      throw dataCloneError("A detached ArrayBuffer");
    }
    const out = new ArrayBufferCtor(ArrayBufferPrototypeGetByteLength(v));
    TypedArrayPrototypeSet(new Uint8ArrayCtor(out), new Uint8ArrayCtor(v), 0);
    MapPrototypeSet(memory, v, out);
    return out;
  }
  if (isDate(v)) {
    const out = new DateCtor(DatePrototypeGetTime(v));
    MapPrototypeSet(memory, v, out);
    return out;
  }
  if (isRegExp(v)) {
    const out = new RegExpCtor(RegExpPrototypeGetSource(v), RegExpPrototypeGetFlags(v));
    MapPrototypeSet(memory, v, out);
    return out;
  }
  if (isMap(v)) {
    const out = new MapCtor();
    MapPrototypeSet(memory, v, out);
    const keys = [];
    const values = [];
    MapPrototypeForEach(v, (value, key) => {
      keys[keys.length] = key;
      values[values.length] = value;
    });
    for (let i = 0; i < keys.length; i++) {
      MapPrototypeSet(out, cloneValue(keys[i], memory), cloneValue(values[i], memory));
    }
    return out;
  }
  if (isSet(v)) {
    const out = new SetCtor();
    MapPrototypeSet(memory, v, out);
    const values = [];
    SetPrototypeForEach(v, (value) => {
      values[values.length] = value;
    });
    for (let i = 0; i < values.length; i++) SetPrototypeAdd(out, cloneValue(values[i], memory));
    return out;
  }
  if (isErrorObject(v) || ObjectPrototypeIsPrototypeOf(DOMExceptionCtor.prototype, v)) return cloneError(v, memory);
  if (isPlatformObject(v) || isNativePromise(v) || isWeakMapOrSet(v) || isSharedArrayBuffer(v)) {
    throw dataCloneError(describeForCloneError(v));
  }
  const boxed = formatBoxed(v);
  if (boxed !== null) {
    if (boxed[0] === "Symbol") throw dataCloneError(describeForCloneError(v));
    const out = ObjectCtor(boxed[1]);
    MapPrototypeSet(memory, v, out);
    return out;
  }
  // Any other object (e.g. a class instance): its own enumerable properties, as a plain object.
  const out = {};
  MapPrototypeSet(memory, v, out);
  return cloneProperties(v, out, memory);
}

function structuredClone(value, options = undefined) {
  requireArgs(arguments.length, 1, "structuredClone");
  const transfer = [];
  if (options !== undefined && options !== null) {
    if (!isObjectLike(options)) throw new TypeErrorCtor("structuredClone: options must be an object");
    const list = options.transfer;
    if (list !== undefined && list !== null) {
      for (const item of list) {
        if (!isArrayBuffer(item)) throw dataCloneError(`${describeForCloneError(item)} (only ArrayBuffers can be transferred)`);
        if (ArrayPrototypeIncludes(transfer, item)) throw dataCloneError("An ArrayBuffer listed twice in transfer");
        if (ArrayBufferPrototypeGetDetached !== null && ArrayBufferPrototypeGetDetached(item)) {
          throw dataCloneError("A detached ArrayBuffer");
        }
        transfer[transfer.length] = item;
      }
    }
  }
  const memory = new MapCtor();
  const result = cloneValue(value, memory);
  // Transferred buffers were copied above; now detach the originals.
  for (let i = 0; i < transfer.length; i++) {
    if (ArrayBufferPrototypeTransfer !== null) ArrayBufferPrototypeTransfer(transfer[i]);
  }
  return result;
}

defineGlobal("structuredClone", structuredClone);
