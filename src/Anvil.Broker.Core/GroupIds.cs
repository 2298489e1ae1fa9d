using System.Security.Cryptography;

namespace Anvil.Broker.Core;

/// <summary>20-character group ids: time, randomness and a counter in base32hex, so ids sort by creation and never repeat.</summary>
internal static class GroupIds
{
    private const string Alphabet = "0123456789abcdefghijklmnopqrstuv";
    private static long counter = RandomNumberGenerator.GetInt32(int.MaxValue);

    public static string Next()
    {
        Span<byte> raw = stackalloc byte[12];
        var seconds = (uint)DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        raw[0] = (byte)(seconds >> 24);
        raw[1] = (byte)(seconds >> 16);
        raw[2] = (byte)(seconds >> 8);
        raw[3] = (byte)seconds;
        RandomNumberGenerator.Fill(raw[4..9]);
        var count = (uint)Interlocked.Increment(ref counter);
        raw[9] = (byte)(count >> 16);
        raw[10] = (byte)(count >> 8);
        raw[11] = (byte)count;

        // 96 bits → 20 characters of 5 bits (the last carries 1 bit of padding).
        Span<char> text = stackalloc char[20];
        int bits = 0, value = 0, i = 0;
        foreach (var b in raw)
        {
            value = (value << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                text[i++] = Alphabet[(value >> bits) & 31];
            }
        }

        text[i] = Alphabet[(value << (5 - bits)) & 31];
        return new string(text);
    }
}
