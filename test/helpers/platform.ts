// Facts about the machine a test runs on that decide what it expects.

/**
 * Whether sodium-native 5.1.0's prebuilt addon should load here (core/aead-native.ts): linux x64
 * and arm64 with glibc 2.33 or newer (the versions of its symbols). Elsewhere kith keeps
 * libsodium's WebAssembly build.
 */
export function sodiumNativeExpected(): boolean {
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  if (process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch) || glibc === undefined) return false;
  const [major, minor] = glibc.split('.').map(Number);
  return major! > 2 || (major === 2 && minor! >= 33);
}
