// The `libsodium` package ships no types: its default export instantiates the WebAssembly module
// (core/aead-sodium.ts declares the few functions kith calls).
declare module 'libsodium' {
  const instantiate: (module?: { getRandomValue?: () => number }) => Promise<unknown>;
  export default instantiate;
}
