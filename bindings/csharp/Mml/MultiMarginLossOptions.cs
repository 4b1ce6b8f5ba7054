namespace Mml
{
    /// <summary>Options of a <see cref="MultiMarginLoss"/>, with PyTorch's defaults.</summary>
    public sealed class MultiMarginLossOptions
    {
        /// <summary>The power of the hinge: 1 (default) or 2.</summary>
        public int P { get; set; }

        /// <summary>The margin (default 1.0); converted to float for the float entry points.</summary>
        public double Margin { get; set; }

        /// <summary>Per-class weights, or null (default) for none. Copied at creation.</summary>
        public float[] Weight { get; set; }

        /// <summary>Per-class weights in double precision, or null (default): the double entry points use
        /// them as given, the float and 16-bit ones round them to float (mml_create_f64). Set
        /// <see cref="Weight"/> or this, not both.</summary>
        public double[] Weight64 { get; set; }

        /// <summary>How per-sample losses combine (default <see cref="Mml.Reduction.Mean"/>).</summary>
        public Reduction Reduction { get; set; }

        /// <summary>PyTorch's defaults: p = 1, margin = 1, no weight, mean.</summary>
        public MultiMarginLossOptions()
        {
            P = 1;
            Margin = 1.0;
            Weight = null;
            Reduction = Reduction.Mean;
        }
    }
}
