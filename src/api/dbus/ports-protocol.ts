// org.rdk.dobby.ports1 (dobby-ts's own): forwarded ports at run time, in Dobby's style (failure values, never D-Bus errors).
//
//   AddPort(i descriptor, s spec) → (i portId, s detail)
//       spec: JSON {proto, parentIP, parentPort, childIP, childPort[, driver]} for the container with
//       that descriptor. Success: portId ≥ 1 and detail = the port as JSON {id, spec, driver}.
//       Failure: portId -1 and detail = JSON {code, reason, message} saying what is wrong.
//   ListPorts() → (s ports)                       JSON array of {id, spec, driver}, by id
//   RemovePort(i portId) → (b success, s detail)  detail "" on success, else the error JSON
// Bad arguments (wrong signature) get (-1, ""), ("[]") and (false, "").

import type { InterfaceSpec } from './protocol.ts';

export const PORTS_IFACE = 'org.rdk.dobby.ports1';

const a = (name: string, type: string) => ({ name, type });

export const PORTS_PROTOCOL: InterfaceSpec = {
  methods: {
    AddPort: { accepts: ['is'], inArgs: [a('descriptor', 'i'), a('spec', 's')], outArgs: [a('portId', 'i'), a('detail', 's')], failure: [-1, ''] },
    ListPorts: { accepts: [''], inArgs: [], outArgs: [a('ports', 's')], failure: ['[]'] },
    RemovePort: { accepts: ['i'], inArgs: [a('portId', 'i')], outArgs: [a('success', 'b'), a('detail', 's')], failure: [false, ''] },
  },
  signals: {},
};
