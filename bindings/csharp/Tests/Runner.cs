// A tiny console test runner: one line per test, then "N passed, M failed"; exit code 1 on failure.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace Mml.Tests
{
    internal sealed class TestFailure : Exception
    {
        public TestFailure(string message) : base(message) { }
    }

    internal static class Assert
    {
        public static void True(bool condition, string what)
        {
            if (!condition)
                throw new TestFailure(what);
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
                throw new TestFailure(what + ": expected " + expected + ", got " + actual);
        }

        /// <summary>Bit-identical floats (so NaN equals NaN, and 0 differs from -0).</summary>
        public static void Bits(float[] expected, float[] actual, string what)
        {
            True(actual != null, what + ": null array");
            if (expected.Length != actual.Length)
                throw new TestFailure(what + ": length " + actual.Length + ", expected " + expected.Length);
            for (int k = 0; k < expected.Length; k++)
            {
                int e = BitConverter.ToInt32(BitConverter.GetBytes(expected[k]), 0);
                int a = BitConverter.ToInt32(BitConverter.GetBytes(actual[k]), 0);
                if (e != a && !(float.IsNaN(expected[k]) && float.IsNaN(actual[k])))
                    throw new TestFailure(string.Format(CultureInfo.InvariantCulture,
                        "{0}[{1}]: expected {2:R} (0x{3:x8}), got {4:R} (0x{5:x8})",
                        what, k, expected[k], e, actual[k], a));
            }
        }

        public static void Bits(double[] expected, double[] actual, string what)
        {
            True(actual != null, what + ": null array");
            if (expected.Length != actual.Length)
                throw new TestFailure(what + ": length " + actual.Length + ", expected " + expected.Length);
            for (int k = 0; k < expected.Length; k++)
            {
                long e = BitConverter.DoubleToInt64Bits(expected[k]);
                long a = BitConverter.DoubleToInt64Bits(actual[k]);
                if (e != a && !(double.IsNaN(expected[k]) && double.IsNaN(actual[k])))
                    throw new TestFailure(string.Format(CultureInfo.InvariantCulture,
                        "{0}[{1}]: expected {2:R} (0x{3:x16}), got {4:R} (0x{5:x16})",
                        what, k, expected[k], e, actual[k], a));
            }
        }

        /// <summary>Runs <paramref name="action"/>, which must throw exactly <typeparamref name="T"/>.</summary>
        public static T Throws<T>(Action action, string what) where T : Exception
        {
            try
            {
                action();
            }
            catch (T e)
            {
                if (e.GetType() != typeof(T))
                    throw new TestFailure(what + ": threw " + e.GetType().Name + ", expected " + typeof(T).Name);
                return e;
            }
            catch (TestFailure)
            {
                throw;
            }
            catch (Exception e)
            {
                throw new TestFailure(what + ": threw " + e.GetType().Name + " (" + e.Message + "), expected "
                                      + typeof(T).Name);
            }
            throw new TestFailure(what + ": did not throw " + typeof(T).Name);
        }

        /// <summary>Expects an MmlException with the status and a message containing every fragment.</summary>
        public static MmlException Status(Status status, Action action, string what, params string[] fragments)
        {
            MmlException e = Throws<MmlException>(action, what);
            if (e.Status != status)
                throw new TestFailure(what + ": status " + e.Status + ", expected " + status + " (" + e.Message + ")");
            foreach (string f in fragments)
                if (e.Message.IndexOf(f, StringComparison.Ordinal) < 0)
                    throw new TestFailure(what + ": message \"" + e.Message + "\" lacks \"" + f + "\"");
            return e;
        }
    }

    internal static class Program
    {
        private sealed class Test
        {
            public string Name;
            public Action Body;
            public string Skip;
        }

        private static readonly List<Test> tests = new List<Test>();

        public static void Add(string name, Action body)
        {
            tests.Add(new Test { Name = name, Body = body });
        }

        public static void Skip(string name, string reason)
        {
            tests.Add(new Test { Name = name, Skip = reason });
        }

        private static int Main(string[] args)
        {
            string golden = args.Length > 0 ? args[0] : null;
            string filter = args.Length > 1 ? args[1] : null;
            try
            {
                ApiTests.Register();
                GoldenTests.Register(golden);
                FormatsTests.Register(golden == null ? null
                                      : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(golden)),
                                                               "formats.json"));
            }
            catch (Exception e)
            {
                Console.WriteLine("FAIL registering tests: " + e);
                Console.WriteLine("0 passed, 1 failed");
                return 1;
            }

            int passed = 0, failed = 0, skipped = 0;
            foreach (Test t in tests)
            {
                if (filter != null && t.Name.IndexOf(filter, StringComparison.Ordinal) < 0)
                    continue;
                if (t.Skip != null)
                {
                    Console.WriteLine("SKIPPED " + t.Name + ": " + t.Skip);
                    skipped++;
                    continue;
                }
                try
                {
                    t.Body();
                    Console.WriteLine("PASS " + t.Name);
                    passed++;
                }
                catch (Exception e)
                {
                    TestFailure f = e as TestFailure;
                    Console.WriteLine("FAIL " + t.Name + ": " + (f != null ? f.Message : e.ToString()));
                    failed++;
                }
            }
            if (skipped > 0)
                Console.WriteLine(skipped + " skipped");
            Console.WriteLine(passed + " passed, " + failed + " failed");
            return failed == 0 ? 0 : 1;
        }
    }
}
