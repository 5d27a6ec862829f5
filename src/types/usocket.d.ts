// usocket ships no types; dobbyd only loads it (src/host/usocket-check.ts) to prove its addon works.
declare module 'usocket';
