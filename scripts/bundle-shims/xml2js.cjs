// xml2js for dbus-next, loaded on first use. dbus-next makes an xml2js.Builder for every bus (for the
// introspection it would serve) and a Parser for every proxy object; dobbyd answers Introspect itself
// and uses no proxy objects, so xml2js, xmlbuilder and sax (~140 KiB of code, ~0.4 MiB resident) are
// not even in the bundle (its source is held in memory whole: another ~0.2 MiB): they are required
// from node_modules if one of the two is really used.
'use strict';
let xml2js;
// A name in a variable: esbuild leaves this require to Node at run time (the bundle's alias maps the
// literal 'xml2js' to this file).
const name = 'xml2js';
const load = () => (xml2js ??= require(name));

class Builder {
  #options;
  #real;
  constructor(options) {
    this.#options = options;
  }
  buildObject(...args) {
    this.#real ??= new (load().Builder)(this.#options);
    return this.#real.buildObject(...args);
  }
}

class Parser {
  #options;
  #real;
  constructor(options) {
    this.#options = options;
  }
  parseString(...args) {
    this.#real ??= new (load().Parser)(this.#options);
    return this.#real.parseString(...args);
  }
}

// The two classes dbus-next uses; anything else loads the real module.
module.exports = new Proxy({ Builder, Parser }, {
  get(target, key) {
    return key in target ? target[key] : load()[key];
  },
});
