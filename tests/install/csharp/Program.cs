// A C# program that uses mml from its NuGet package: tests/install/test.sh unpacks
// Mml.VERSION.nupkg in a temporary directory, compiles this file with Mono's mcs against the
// package's lib/netstandard2.0/Mml.dll and runs it with the package's
// runtimes/linux-x64/native/libmml.so.
using System;
using Mml;

public static class Program
{
    public static int Main()
    {
        if (!MmlLibrary.IsCompatible)
        {
            Console.Error.WriteLine("csharp: native library {0} does not match the binding {1}",
                                    MmlLibrary.Version, MmlLibrary.BindingVersion);
            return 1;
        }
        using (var loss = new MultiMarginLoss()) // p 1, margin 1, no weights, mean
        {
            // torch.nn.MultiMarginLoss() docs: x = [[0.1, 0.2, 0.4, 0.8]], y = [3] -> 0.3250.
            var scores = new[] { 0.1f, 0.2f, 0.4f, 0.8f };
            float[] grad;
            float[] value = loss.ForwardBackward(scores, new long[] { 3 }, 4, new[] { 1f }, out grad);
            if (Math.Abs(value[0] - 0.325f) > 1e-6f || grad[0] != 0.25f || grad[3] != -0.75f)
            {
                Console.Error.WriteLine("csharp: got loss {0}, grad [{1}]; expected 0.325, [0.25 0.25 0.25 -0.75]",
                                        value[0], string.Join(" ", grad));
                return 1;
            }
            try
            {
                loss.Forward(scores, new long[] { 4 }, 4);
                Console.Error.WriteLine("csharp: an out-of-range target was accepted");
                return 1;
            }
            catch (MmlException e) when (e.Status == Status.TargetOutOfRange)
            {
            }
            Console.WriteLine("csharp: ok (mml {0}, loss {1:F4})", MmlLibrary.Version, value[0]);
        }
        return 0;
    }
}
