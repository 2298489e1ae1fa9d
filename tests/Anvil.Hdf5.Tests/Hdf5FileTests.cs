using System.Text.Json;

namespace Anvil.Hdf5.Tests;

public sealed class Hdf5FileTests
{
    [Fact]
    public void WriteDataset_EachNumericType_ReadsBackWithShapeAndType()
    {
        using var temp = new TempDirectory();
        var path = temp.File("numbers.h5");
        var floats = new[] { 1.5f, -2.25f, float.MaxValue };
        var doubles = new[,] { { 1.0, 2.0, 3.0 }, { 4.0, 5.0, double.Epsilon } };
        var longs = new[] { long.MinValue, 0L, long.MaxValue };
        var ints = new[,] { { int.MinValue, 7 }, { 8, int.MaxValue } };
        var shorts = new[] { (short)-1, (short)4095, short.MinValue };
        using (var file = Hdf5File.Create(path))
        {
            file.WriteDataset("/a/floats", floats);
            file.WriteDataset("/a/doubles", doubles);
            file.WriteDataset("/b/c/longs", longs);
            file.WriteDataset("/ints", ints, deflateLevel: 4);
            file.WriteDataset("/shorts", shorts);
        }

        using var read = Hdf5File.OpenRead(path);
        Assert.Equal(floats, read.ReadDataset<float>("/a/floats"));
        Assert.Equal(doubles.Cast<double>(), read.ReadDataset<double>("/a/doubles"));
        Assert.Equal(longs, read.ReadDataset<long>("/b/c/longs"));
        Assert.Equal(ints.Cast<int>(), read.ReadDataset<int>("/ints"));
        Assert.Equal(shorts, read.ReadDataset<short>("/shorts"));
        Assert.Equal([-1f, 4095f, -32768f], read.ReadDataset<float>("/shorts"));

        var info = read.GetDatasetInfo("/a/doubles");
        Assert.Equal([2L, 3L], info.Shape);
        Assert.Equal(Hdf5ElementType.Float64, info.ElementType);
        Assert.Null(info.ChunkShape);
        var compressed = read.GetDatasetInfo("/ints");
        Assert.Equal(Hdf5ElementType.Int32, compressed.ElementType);
        Assert.Equal([1], compressed.Filters);
        Assert.NotNull(compressed.ChunkShape);
        Assert.Equal(Hdf5ElementType.Int16, read.GetDatasetInfo("/shorts").ElementType);
        Assert.Equal(Hdf5ElementType.Int64, read.GetDatasetInfo("/b/c/longs").ElementType);
        Assert.Equal(Hdf5ElementType.Float32, read.GetDatasetInfo("/a/floats").ElementType);
    }

    [Fact]
    public void WriteDataset_ShapeMismatch_Throws()
    {
        using var temp = new TempDirectory();
        using var file = Hdf5File.Create(temp.File("bad.h5"));
        Assert.Throws<ArgumentException>(() => file.WriteDataset<float>("/x", new float[5], [2, 3]));
    }

    [Fact]
    public void Structure_GroupsExistenceAndChildren()
    {
        using var temp = new TempDirectory();
        using var file = Hdf5File.Create(temp.File("tree.h5"));
        file.CreateGroup("/processed/result");
        file.CreateGroup("/processed/result");
        file.WriteDataset("/processed/result/binning", new[] { 1.0, 2.0 });
        file.WriteString("/processed/process/cal_file", "L2.poni");

        Assert.Equal(Hdf5ObjectKind.Group, file.GetObjectKind("/processed"));
        Assert.Equal(Hdf5ObjectKind.Dataset, file.GetObjectKind("/processed/result/binning"));
        Assert.Equal(Hdf5ObjectKind.None, file.GetObjectKind("/processed/nothing/here"));
        Assert.True(file.Exists("/"));
        Assert.False(file.Exists("/missing"));
        Assert.Equal(["process", "result"], file.ListChildren("/processed"));

        file.Delete("/processed/result/binning");
        Assert.False(file.Exists("/processed/result/binning"));
    }

    [Fact]
    public void StringsAndAttributes_RoundTripThroughOwnReader()
    {
        using var temp = new TempDirectory();
        var path = temp.File("strings.h5");
        string[] files = ["scan_00001_m1_part00000.nxs", "scan_00001_m1_part00001.nxs", "Ünïcödé 2θ.nxs"];
        using (var file = Hdf5File.Create(path))
        {
            file.WriteString("/p/cal_file", "/data/L2.poni");
            file.WriteStrings("/p/files", files);
            file.CreateGroup("/p/result");
            file.SetAttribute("/p/result", "axes", [".", "binning"]);
            file.SetAttribute("/p/result", "signal", "data");
            file.SetAttribute("/p/result", "signal", "intensity");
            file.SetAttribute("/p", "wavelength", 2.9e-11);
            file.SetAttribute("/p", "frames", 12345678901L);
            file.SetAttribute<int>("/p", "shape", [1833, 1556]);
        }

        using var read = Hdf5File.OpenRead(path);
        Assert.Equal("/data/L2.poni", read.ReadString("/p/cal_file"));
        Assert.Empty(read.GetDatasetInfo("/p/cal_file").Shape);
        Assert.Equal(files, read.ReadStrings("/p/files"));
        Assert.Equal(Hdf5ElementType.String, read.GetDatasetInfo("/p/files").ElementType);
        Assert.Equal([".", "binning"], read.GetAttributeStrings("/p/result", "axes"));
        Assert.Equal("intensity", read.GetAttributeString("/p/result", "signal"));
        Assert.Equal(2.9e-11, read.GetAttributeDouble("/p", "wavelength"));
        Assert.Equal(12345678901L, read.GetAttributeLong("/p", "frames"));
        Assert.Equal([1833L, 1556L], read.GetAttribute<long>("/p", "shape"));
        Assert.True(read.HasAttribute("/p", "frames"));
        Assert.False(read.HasAttribute("/p", "nope"));
        Assert.Null(read.TryGetAttributeString("/p", "nope"));
        Assert.Null(read.TryGetAttributeString("/p", "frames"));
        Assert.Null(read.TryGetAttributeString("/missing", "x"));
    }

    [Fact]
    public void ReadStrings_LambdaFixture_ReadsVariableLengthAsciiArrays()
    {
        using var file = Hdf5File.OpenRead(LambdaFixtures.PathOf("testasapo1_1009_00002_m1_part00000.nxs"));
        Assert.Equal("Lambda", file.ReadString("/entry/instrument/detector/description"));
        Assert.Equal(["GaAs"], file.ReadStrings("/entry/instrument/detector/sensor_material"));
        Assert.Equal("NXdetector", file.GetAttributeString("/entry/instrument/detector", "NX_class"));
        Assert.Equal("eV", file.GetAttributeString("/entry/instrument/detector/collection/beam_energy", "units"));
        Assert.Equal(12000.0, file.ReadScalar<double>("/entry/instrument/detector/collection/beam_energy"));
    }

    [Fact]
    public void DioptasLayout_ReadByH5pyAsDioptasExpects()
    {
        using var temp = new TempDirectory();
        var path = temp.File("scan_00001_integrated.nxs");
        const int frames = 4, bins = 6;
        var data = new float[frames * bins];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = i * 0.5f;
        }

        var binning = Enumerable.Range(0, bins).Select(i => 1.0 + (0.25 * i)).ToArray();
        using (var file = Hdf5File.Create(path))
        {
            file.SetAttribute("/", "NX_class", "NXroot");
            file.SetAttribute("/", "default", "processed");
            file.CreateGroup("/processed");
            file.SetAttribute("/processed", "NX_class", "NXentry");
            file.SetAttribute("/processed", "default", "result");
            file.WriteDataset<float>("/processed/result/data", data, [frames, bins]);
            file.WriteDataset("/processed/result/binning", binning);
            file.SetAttribute("/processed/result", "NX_class", "NXdata");
            file.SetAttribute("/processed/result", "signal", "data");
            file.SetAttribute("/processed/result", "axes", [".", "binning"]);
            file.SetAttribute("/processed/result/binning", "unit", "deg");
            file.WriteStrings("/processed/process/files", ["scan_00001_m1_part00000.nxs"]);
            file.WriteDataset("/processed/process/file_map", new long[] { 0, frames });
            file.WriteDataset("/processed/process/pos_map", new long[,] { { 0, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 } });
            file.WriteString("/processed/process/cal_file", "/beamtime/L2.poni");
            file.WriteDataset("/processed/process/mask", new byte[,] { { 0, 1 }, { 1, 0 } });
        }

        var json = Python.Run(
            """
            import h5py, json, sys
            f = h5py.File(sys.argv[1], "r"); p = f["processed"]; r = p["result"]; q = p["process"]
            cal = q["cal_file"][()]
            print(json.dumps({
              "root": [f.attrs["NX_class"], f.attrs["default"]], "entry": [p.attrs["NX_class"], p.attrs["default"]],
              "data": [str(r["data"].dtype), list(r["data"].shape), float(r["data"][3, 5])],
              "binning": [str(r["binning"].dtype), r["binning"][()].tolist(), r["binning"].attrs["unit"]],
              "nxdata": [r.attrs["NX_class"], r.attrs["signal"], [str(a) for a in r.attrs["axes"]]],
              "cal_file": [q["cal_file"].shape == (), cal.decode() if isinstance(cal, bytes) else cal],
              "files": [x.decode() for x in q["files"][()]],
              "maps": [str(q["file_map"].dtype), q["file_map"][()].tolist(), list(q["pos_map"].shape), q["pos_map"][3].tolist()],
              "mask": [str(q["mask"].dtype), q["mask"][()].tolist()]}, separators=(",", ":")))
            """,
            path);
        var r = JsonDocument.Parse(json).RootElement;

        Assert.Equal("""["NXroot","processed"]""", r.GetProperty("root").GetRawText());
        Assert.Equal("""["NXentry","result"]""", r.GetProperty("entry").GetRawText());
        Assert.Equal("""["float32",[4,6],11.5]""", r.GetProperty("data").GetRawText());
        Assert.Equal("""["float64",[1.0,1.25,1.5,1.75,2.0,2.25],"deg"]""", r.GetProperty("binning").GetRawText());
        Assert.Equal("""["NXdata","data",[".","binning"]]""", r.GetProperty("nxdata").GetRawText());
        Assert.Equal("""[true,"/beamtime/L2.poni"]""", r.GetProperty("cal_file").GetRawText());
        Assert.Equal("""["scan_00001_m1_part00000.nxs"]""", r.GetProperty("files").GetRawText());
        Assert.Equal("""["int64",[0,4],[4,2],[0,3]]""", r.GetProperty("maps").GetRawText());
        Assert.Equal("""["uint8",[[0,1],[1,0]]]""", r.GetProperty("mask").GetRawText());
    }

    [Fact]
    public void ReadDataset_MissingDataset_ThrowsHdf5ExceptionNamingFileAndObject()
    {
        using var temp = new TempDirectory();
        var path = temp.File("empty.h5");
        using (Hdf5File.Create(path))
        {
        }

        using var file = Hdf5File.OpenRead(path);
        var ex = Assert.Throws<Hdf5Exception>(() => file.ReadDataset<float>("/no/such"));
        Assert.Contains($"{path}:/no/such", ex.Message);
        Assert.NotEmpty(ex.Hdf5Error);
    }

    [Fact]
    public void ReadDataset_StringsAsNumbers_Throws()
    {
        using var file = Hdf5File.OpenRead(LambdaFixtures.PathOf("testasapo1_1009_00002_m1_part00000.nxs"));
        Assert.Throws<Hdf5Exception>(() => file.ReadDataset<float>("/entry/instrument/detector/description"));
    }

    [Fact]
    public void OpenReadWrite_ReadOnlyFileOpen_CanWriteAndOthersSeeIt()
    {
        using var temp = new TempDirectory();
        var path = temp.File("rw.h5");
        using (var file = Hdf5File.Create(path))
        {
            file.WriteDataset("/x", new[] { 1, 2, 3 });
        }

        using (var file = Hdf5File.OpenReadWrite(path))
        {
            Assert.True(file.IsWritable);
            file.WriteDataset("/y", new[] { 4.0 });
            file.SetAttribute("/x", "units", "counts");
        }

        Assert.Equal("[1, 2, 3] [4.] counts", Python.Run("import h5py, sys; f = h5py.File(sys.argv[1], 'r'); print(list(f['x'][()]), f['y'][()], f['x'].attrs['units'])", path).Trim());
    }
}
