namespace Anvil.Hdf5.Tests;

public sealed class ExtendibleDataset2DTests
{
    private static float[] Row(int row, int columns) => Enumerable.Range(0, columns).Select(c => (row * 1000f) + c).ToArray();

    [Fact]
    public void WriteRow_OutOfOrder_ExtendsAndLeavesGapsAsNaN()
    {
        using var temp = new TempDirectory();
        using var file = Hdf5File.Create(temp.File("result.nxs"));
        using var data = file.CreateExtendible2D<float>("/processed/result/data", columns: 7, chunkRows: 4, deflateLevel: 1);

        data.WriteRow(5, Row(5, 7));
        data.WriteRow(2, Row(2, 7));
        data.WriteRow(9, Row(9, 7));

        Assert.Equal(10, data.Rows);
        var back = new float[7];
        data.ReadRow(2, back);
        Assert.Equal(Row(2, 7), back);
        data.ReadRow(9, back);
        Assert.Equal(Row(9, 7), back);
        data.ReadRow(3, back);
        Assert.All(back, v => Assert.True(float.IsNaN(v)));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.ReadRow(10, back));
        Assert.Throws<ArgumentException>(() => data.WriteRow(0, new float[6]));
    }

    [Fact]
    public void OpenReadWrite_AfterRestart_ContinuesWhereTheWriterStopped()
    {
        using var temp = new TempDirectory();
        var path = temp.File("result.nxs");
        using (var file = Hdf5File.Create(path))
        using (var data = file.CreateExtendible2D<float>("/processed/result/data", columns: 5, chunkRows: 8, deflateLevel: 4))
        {
            for (var r = 0; r < 3; r++)
            {
                data.WriteRow(r, Row(r, 5));
            }
        }

        using (var file = Hdf5File.OpenReadWrite(path))
        using (var data = file.OpenExtendible2D<float>("/processed/result/data"))
        {
            Assert.Equal((3L, 5), (data.Rows, data.Columns));
            data.WriteRows(3, [.. Row(3, 5), .. Row(4, 5)]);
            file.Flush();
        }

        var output = Python.Run(
            "import h5py, sys; d = h5py.File(sys.argv[1], 'r')['processed/result/data']; print(d.dtype, d.shape, d.maxshape, d.chunks, d.compression, d.compression_opts, d[4].tolist())",
            path);
        Assert.Equal("float32 (5, 5) (None, 5) (8, 5) gzip 4 [4000.0, 4001.0, 4002.0, 4003.0, 4004.0]", output.Trim());

        using var reader = Hdf5File.OpenRead(path);
        using var again = reader.OpenExtendible2D<float>("/processed/result/data");
        var back = new float[5];
        again.ReadRow(0, back);
        Assert.Equal(Row(0, 5), back);
    }

    [Fact]
    public void CreateExtendible2D_Double_FillsWithNaNAndStoresFloat64()
    {
        using var temp = new TempDirectory();
        using var file = Hdf5File.Create(temp.File("d.h5"));
        using var data = file.CreateExtendible2D<double>("/e", columns: 2, chunkRows: 2, deflateLevel: 0);
        data.WriteRow(1, [1.0, 2.0]);
        var back = new double[2];
        data.ReadRow(0, back);
        Assert.All(back, v => Assert.True(double.IsNaN(v)));
        Assert.Equal(Hdf5ElementType.Float64, file.GetDatasetInfo("/e").ElementType);
        Assert.Equal([-1L, 2L], file.GetDatasetInfo("/e").MaxShape);
    }

    [Fact]
    public async Task SwmrWriter_ReaderInAnotherProcessFollowsRows()
    {
        using var temp = new TempDirectory();
        var path = temp.File("live.nxs");
        using var file = Hdf5File.Create(path, latestFormat: true);
        using var data = file.CreateExtendible2D<float>("/processed/result/data", columns: 3, chunkRows: 1, deflateLevel: 0);
        data.WriteRow(0, Row(0, 3));
        file.StartSwmrWrite();

        using var reader = Python.Start(
            """
            import h5py, sys
            f = h5py.File(sys.argv[1], "r", libver="latest", swmr=True); d = f["processed/result/data"]
            for line in sys.stdin:
                d.refresh(); print(d.shape[0], float(d[-1, 2]), flush=True)
            """,
            [path]);
        try
        {
            for (var r = 1; r <= 3; r++)
            {
                data.WriteRow(r, Row(r, 3));
                file.Flush();
                await reader.StandardInput.WriteLineAsync("poll").DefaultTimeout();
                await reader.StandardInput.FlushAsync().DefaultTimeout();
                Assert.Equal($"{r + 1} {(r * 1000f) + 2:0.0}", await reader.StandardOutput.ReadLineAsync().DefaultTimeout());
            }
        }
        finally
        {
            reader.StandardInput.Close();
            await reader.WaitForExitAsync().DefaultTimeout();
        }
    }
}
