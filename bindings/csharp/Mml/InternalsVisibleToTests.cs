// The console test runner (bindings/csharp/Tests, built as MmlTests.exe) tests the binding's own
// status-to-exception mapping, which is internal.
using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("MmlTests")]
