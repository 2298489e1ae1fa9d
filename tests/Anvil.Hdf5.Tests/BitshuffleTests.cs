using System.Buffers.Binary;

namespace Anvil.Hdf5.Tests;

/// <summary>
/// The bitshuffle-LZ4 decoder (HDF5 filter 32008) on chunks python3-lz4 and numpy encoded (Fixtures/bitshuffle_lz4.nxs),
/// and on damaged copies of them: a damaged chunk must raise <see cref="InvalidDataException"/> saying what is wrong,
/// never another exception, an overrun or a hang.
/// </summary>
public sealed class BitshuffleTests
{
    internal static readonly string FixturePath = Path.Combine(TestPaths.RepoRoot, "tests", "Anvil.Hdf5.Tests", "Fixtures", "bitshuffle_lz4.nxs");

    private const string DataPath = "/entry/instrument/detector/data";
    private const int FrameBytes = 9 * 13 * 2;
    private static readonly uint[] Lz4Parameters = [0, 2, 2, 0, 2];

    private static (byte[] Chunk, byte[] Expected) Frame(int k)
    {
        using var file = Hdf5File.OpenRead(FixturePath);
        var chunk = file.ReadStoredChunk(DataPath, [(ulong)k, 0, 0]);
        Assert.Equal(0u, chunk.FilterMask);
        var reference = file.ReadDataset<short>("/reference/data").AsSpan(k * FrameBytes / 2, FrameBytes / 2);
        return (chunk.Bytes, System.Runtime.InteropServices.MemoryMarshal.AsBytes(reference).ToArray());
    }

    [Fact]
    public void Parameters_AreReadFromThePipeline()
    {
        using var file = Hdf5File.OpenRead(FixturePath);
        var info = file.GetDatasetInfo(DataPath);
        Assert.Equal([32008], info.Filters);
        Assert.Equal(Lz4Parameters, info.FilterParameters[0]);
        Assert.Null(Bitshuffle.Unsupported(info.FilterParameters[0], info.ElementSize));
    }

    [Fact]
    public void DefaultBlockSize_IsBitshufflesRule()
    {
        // 8192 bytes' worth of elements, a multiple of 8, at least 128 (bitshuffle's bshuf_default_block_size).
        Assert.Equal([8192, 4096, 2048, 1024, 680, 128], new[] { 1, 2, 4, 8, 12, 64 }.Select(Bitshuffle.DefaultBlockSize));
    }

    [Fact]
    public void Transpose8x8_IsTheBitMatrixTranspose()
    {
        var random = new Random(8);
        for (var n = 0; n < 200; n++)
        {
            var x = (ulong)random.NextInt64() ^ ((ulong)random.Next() << 33);
            var t = Bitshuffle.Transpose8x8(x);
            for (var r = 0; r < 8; r++)
            {
                for (var c = 0; c < 8; c++)
                {
                    Assert.Equal((x >> ((8 * r) + c)) & 1, (t >> ((8 * c) + r)) & 1);
                }
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void UntransposeBits_InvertsTheTransposeAsBitshuffleDefinesIt(int elementSize)
    {
        // Block sizes below, at and past the 16-column vector step, with a scalar remainder.
        var random = new Random(elementSize);
        foreach (var n in new[] { 8, 64, 120, 128, 136, 880, 2048 })
        {
            var elements = new byte[n * elementSize];
            random.NextBytes(elements);

            // The definition: row 8j + k holds bit k of byte j of every element, element i in bit i % 8 of byte i / 8.
            var rows = new byte[elements.Length];
            for (var i = 0; i < n; i++)
            {
                for (var j = 0; j < elementSize; j++)
                {
                    for (var k = 0; k < 8; k++)
                    {
                        var bit = (elements[(i * elementSize) + j] >> k) & 1;
                        rows[((8 * j) + k) * (n / 8) + (i / 8)] |= (byte)(bit << (i % 8));
                    }
                }
            }

            var back = new byte[elements.Length];
            Bitshuffle.UntransposeBits(rows, back, elementSize);
            Assert.Equal(elements, back);
        }
    }

    [Fact]
    public void DecodeChunk_EqualsTheReference()
    {
        for (var k = 0; k < 3; k++)
        {
            var (chunk, expected) = Frame(k);
            var output = new byte[FrameBytes];
            Bitshuffle.DecodeChunk(chunk, output, Lz4Parameters, 2);
            Assert.Equal(expected, output);
        }
    }

    [Fact]
    public void DamagedChunks_FailWithWhatIsWrong()
    {
        var (chunk, _) = Frame(0);
        var firstLength = (int)BinaryPrimitives.ReadUInt32BigEndian(chunk.AsSpan(12));
        var cases = new List<(byte[] Bytes, string Message)>
        {
            (chunk[..8], "less than bitshuffle-LZ4's 12-byte header"),
            (chunk[..(12 + 4 + (firstLength / 2))], "LZ4 block 0 claims"),
            (chunk[..^3], "bytes follow the LZ4 blocks, expected 10"),
            (With(chunk, 7, (byte)(chunk[7] + 2)), "the chunk's header says 236 uncompressed bytes, expected 234"),
            (With(chunk, 11, 3), "not a multiple of 8 elements"),
            (With(chunk, 15, (byte)(chunk[15] - 1)), "LZ4 block 0 (at byte 12 of the chunk) is corrupt"),
            (With(chunk, 15, (byte)(chunk[15] + 1)), "LZ4 block 0 (at byte 12 of the chunk)"),
            (With(chunk, 13, 0xFF), "LZ4 block 0 claims 167"),
        };

        foreach (var (bytes, message) in cases)
        {
            var ex = Assert.Throws<InvalidDataException>(() => Bitshuffle.DecodeChunk(bytes, new byte[FrameBytes], Lz4Parameters, 2));
            Assert.Contains(message, ex.Message);
        }
    }

    [Fact]
    public void Lz4Block_RejectsMalformedBlocksClearly()
    {
        var output = new byte[64];
        (byte[] Block, string Message)[] cases =
        [
            ([], "the block ends at byte 0 where a sequence should start"),
            ([0x50, 1, 2], "a run of 5 literals at byte 1 runs past the block's end"),
            ([0x10, 1, 0, 0], "a match offset of 0"),
            ([0x10, 1, 2, 0], "a match offset of 2 at byte 2 points before the start of the output (at 1)"),
            ([0x1F, 1, 1, 0, 255, 255], "overruns the output"),
            ([0xF0, 255, 255], "literal run"),
            ([0x10, 1, 1], "inside a match offset"),
        ];
        foreach (var (block, message) in cases)
        {
            var ex = Assert.Throws<InvalidDataException>(() => Lz4Block.Decompress(block, output));
            Assert.Contains(message, ex.Message);
        }

        // Overlapping matches repeat the pattern: "ab" then a 9-byte match at offset 2, then 1 literal.
        var written = Lz4Block.Decompress([0x25, (byte)'a', (byte)'b', 2, 0, 0x10, (byte)'!'], output);
        Assert.Equal("abababababa!", System.Text.Encoding.ASCII.GetString(output, 0, written));
    }

    [Fact]
    public void RandomDamage_NeverEscapesAsAnotherException()
    {
        // Every single-byte change and every truncation of each frame's chunk: decodes (to other pixels) or says why not.
        for (var k = 0; k < 3; k++)
        {
            var (chunk, _) = Frame(k);
            var output = new byte[FrameBytes];
            var random = new Random(k);
            for (var i = 0; i < chunk.Length; i++)
            {
                foreach (var value in new[] { (byte)(chunk[i] ^ (1 << random.Next(8))), (byte)0, (byte)255 })
                {
                    Decode(With(chunk, i, value), output);
                }

                Decode(chunk[..i], output);
            }
        }

        static void Decode(byte[] bytes, byte[] output)
        {
            try
            {
                Bitshuffle.DecodeChunk(bytes, output, Lz4Parameters, 2);
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    [Fact]
    public void DamagedChunkInAFile_NamesFileDatasetAndFrame()
    {
        using var temp = new TempDirectory();
        var path = temp.File("damaged.nxs");
        File.Copy(FixturePath, path);
        using (var file = Hdf5File.OpenReadWrite(path))
        {
            var chunk = file.ReadStoredChunk(DataPath, [1, 0, 0]);
            file.WriteStoredChunks(DataPath, [3, 9, 13], [chunk with { Bytes = chunk.Bytes[..^20] }]);
        }

        using var stack = Hdf5ImageStack.Open(path);
        var frame = new float[9 * 13];
        stack.ReadFrame(0, frame);
        var ex = Assert.Throws<Hdf5Exception>(() => stack.ReadFrame(1, frame));
        Assert.StartsWith($"{path}:{DataPath}: frame 1's bitshuffle chunk is corrupt: ", ex.Message);
        stack.ReadFrame(2, frame);
    }

    private static byte[] With(byte[] bytes, int index, byte value)
    {
        var copy = (byte[])bytes.Clone();
        copy[index] = value;
        return copy;
    }
}
