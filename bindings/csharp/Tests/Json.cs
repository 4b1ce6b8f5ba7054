// A small JSON reader for the golden file: objects, arrays, numbers, strings, true/false/null.
// Numbers keep their source text (JsonNumber) so that each consumer picks its own precision.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Mml.Tests
{
    internal sealed class JsonNumber
    {
        public readonly string Text;
        public JsonNumber(string text) { Text = text; }
        public override string ToString() { return Text; }
    }

    internal sealed class JsonReader
    {
        private readonly string s;
        private int i;

        private JsonReader(string text) { s = text; }

        /// <summary>Parses a whole document: Dictionary, List, JsonNumber, string, bool or null.</summary>
        public static object Parse(string text)
        {
            JsonReader r = new JsonReader(text);
            object value = r.Value();
            r.Space();
            if (r.i != r.s.Length)
                throw r.Error("trailing characters");
            return value;
        }

        private FormatException Error(string what)
        {
            return new FormatException("JSON: " + what + " at offset " + i.ToString(CultureInfo.InvariantCulture));
        }

        private void Space()
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                i++;
        }

        private void Expect(char ch)
        {
            Space();
            if (i >= s.Length || s[i] != ch)
                throw Error("expected '" + ch + "'");
            i++;
        }

        private object Value()
        {
            Space();
            if (i >= s.Length)
                throw Error("unexpected end");
            char ch = s[i];
            if (ch == '{') return Object();
            if (ch == '[') return Array();
            if (ch == '"') return String();
            if (Word("true")) return true;
            if (Word("false")) return false;
            if (Word("null")) return null;
            if (ch == '-' || (ch >= '0' && ch <= '9')) return Number();
            throw Error("unexpected character '" + ch + "'");
        }

        private bool Word(string w)
        {
            if (string.CompareOrdinal(s, i, w, 0, w.Length) != 0)
                return false;
            i += w.Length;
            return true;
        }

        private Dictionary<string, object> Object()
        {
            Dictionary<string, object> d = new Dictionary<string, object>();
            Expect('{');
            Space();
            if (i < s.Length && s[i] == '}') { i++; return d; }
            while (true)
            {
                Space();
                string key = String();
                Expect(':');
                d[key] = Value();
                Space();
                if (i < s.Length && s[i] == ',') { i++; continue; }
                Expect('}');
                return d;
            }
        }

        private List<object> Array()
        {
            List<object> list = new List<object>();
            Expect('[');
            Space();
            if (i < s.Length && s[i] == ']') { i++; return list; }
            while (true)
            {
                list.Add(Value());
                Space();
                if (i < s.Length && s[i] == ',') { i++; continue; }
                Expect(']');
                return list;
            }
        }

        private string String()
        {
            Expect('"');
            StringBuilder b = new StringBuilder();
            while (true)
            {
                if (i >= s.Length)
                    throw Error("unterminated string");
                char ch = s[i++];
                if (ch == '"')
                    return b.ToString();
                if (ch != '\\')
                {
                    b.Append(ch);
                    continue;
                }
                if (i >= s.Length)
                    throw Error("unterminated escape");
                char e = s[i++];
                switch (e)
                {
                    case '"': b.Append('"'); break;
                    case '\\': b.Append('\\'); break;
                    case '/': b.Append('/'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'n': b.Append('\n'); break;
                    case 'r': b.Append('\r'); break;
                    case 't': b.Append('\t'); break;
                    case 'u':
                        if (i + 4 > s.Length)
                            throw Error("short \\u escape");
                        b.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: throw Error("bad escape");
                }
            }
        }

        private JsonNumber Number()
        {
            int start = i;
            if (s[i] == '-') i++;
            while (i < s.Length && "0123456789.eE+-".IndexOf(s[i]) >= 0)
                i++;
            if (i == start)
                throw Error("bad number");
            return new JsonNumber(s.Substring(start, i - start));
        }
    }

    /// <summary>Conversions from parsed JSON values to the types the tests use.</summary>
    internal static class Json
    {
        public static double ToDouble(object v)
        {
            string str = v as string;
            if (str != null)
            {
                switch (str)
                {
                    case "nan": return double.NaN;
                    case "inf": return double.PositiveInfinity;
                    case "-inf": return double.NegativeInfinity;
                    default: throw new FormatException("not a number: \"" + str + "\"");
                }
            }
            JsonNumber num = v as JsonNumber;
            if (num == null)
                throw new FormatException("expected a number, got " + (v == null ? "null" : v.GetType().Name));
            return DecimalParser.Parse(num.Text);
        }

        /// <summary>
        /// A float32 value. It is parsed as a double (correctly rounded, see DecimalParser) and cast;
        /// the cast must be exact, which proves the text named a float32 value and the parse hit it
        /// exactly (a parse off by one double ulp would not land on a float32 value).
        /// </summary>
        public static float ToSingle(object v)
        {
            double d = ToDouble(v);
            float f = (float)d;
            if (!double.IsNaN(d) && (double)f != d)
                throw new FormatException("\"" + v + "\" is not exactly a float32 value (parsed as "
                                          + d.ToString("R", CultureInfo.InvariantCulture) + ")");
            return f;
        }

        public static List<object> List(object v)
        {
            List<object> list = v as List<object>;
            if (list == null)
                throw new FormatException("expected an array");
            return list;
        }

        public static float[] Singles(object v)
        {
            List<object> list = List(v);
            float[] a = new float[list.Count];
            for (int k = 0; k < a.Length; k++) a[k] = ToSingle(list[k]);
            return a;
        }

        public static double[] Doubles(object v)
        {
            List<object> list = List(v);
            double[] a = new double[list.Count];
            for (int k = 0; k < a.Length; k++) a[k] = ToDouble(list[k]);
            return a;
        }

        public static long[] Longs(object v)
        {
            List<object> list = List(v);
            long[] a = new long[list.Count];
            for (int k = 0; k < a.Length; k++)
                a[k] = long.Parse(((JsonNumber)list[k]).Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            return a;
        }

        public static int Int(object v)
        {
            return int.Parse(((JsonNumber)v).Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }
    }
}
