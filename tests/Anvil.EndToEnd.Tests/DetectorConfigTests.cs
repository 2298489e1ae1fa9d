using Anvil.Cli;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// The Detectors section of the pipeline configuration, read as the CLI reads it (a real JSON file through
/// <see cref="PipelineConfig"/>, Microsoft.Extensions.Configuration and <see cref="DetectorSet"/>), and how a detector's
/// data is named on its way through the chain.
/// </summary>
public sealed class DetectorConfigTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("anvil-detectors-").FullName;

    private static string Poni => Path.Combine(TestPaths.LambdaFixtures, "L2.poni");

    [Fact]
    public void Load_TwoLambdas_EachWithKindPoniAndOwnSettings_NumbersLeftOutTakeThePipelines()
    {
        File.Copy(Poni, Path.Combine(folder, "far.poni"));
        var config = Load("""
            {"Pipeline": {"DataRoot": "data", "Poni": "@PONI", "Npt": 1800, "Unit": "q_nm^-1", "Polarization": 0.99,
              "Detectors": {
                "lambda1": {"Kind": "lambda2m", "Poni": "@PONI"},
                "lambda2": {"Kind": "Lambda2M", "Poni": "far.poni", "Npt": 900, "Method": "full", "Pattern": "lambda2/*.nxs"}
              }}}
            """);

        var detectors = config.ValidDetectors();

        Assert.Equal(["lambda1", "lambda2"], detectors.Detectors.Select(d => d.Name));
        Assert.All(detectors.Detectors, d => Assert.Same(DetectorKinds.Lambda2M, d.Kind));
        var (one, two) = (detectors.Detectors[0].Settings, detectors.Detectors[1].Settings);
        Assert.Equal((Poni, 1800, RadialUnit.QNm, SplitMethod.BBox, (double?)0.99), (one.Poni, one.Npt, one.Unit, one.Method, one.PolarizationFactor));
        // A relative path in the file is taken from the file's folder, as every path of the configuration.
        Assert.Equal((Path.Combine(folder, "far.poni"), 900, RadialUnit.QNm, SplitMethod.Full), (two.Poni, two.Npt, two.Unit, two.Method));
        Assert.Equal("lambda2/*.nxs", detectors.Detectors[1].Pattern);
        Assert.Null(detectors.Detectors[0].Pattern);
    }

    [Fact]
    public void Load_NoDetectorsSection_NoneConfigured_TheStreamIsTheAcquisition()
    {
        var detectors = Load("""{"Pipeline": {"Poni": "@PONI"}}""").ValidDetectors();

        Assert.False(detectors.Configured);
        Assert.Equal(("scan_00001", (Detector?)null), detectors.Stream("scan_00001", ""));
        Assert.Null(detectors.Parse("scan_00001_lambda1"));
        var named = Assert.Throws<ArgumentException>(() => detectors.Stream("scan_00001", "lambda1", "scan/a.nxs"));
        Assert.Equal("detector 'lambda1' (file scan/a.nxs) is unknown: the pipeline configuration lists no detectors, so announce with no detector name (or add a Detectors section).", named.Message);
    }

    [Fact]
    public void Load_BadEntries_OneErrorNamingEveryDetectorAndKey()
    {
        var config = Load("""
            {"Pipeline": {"Poni": "@PONI",
              "Detectors": {
                "bad_name": {"Kind": "lambda2m", "Poni": "@PONI"},
                "nokind": {"Poni": "@PONI"},
                "pilatus": {"Kind": "pilatus9m", "Poni": "@PONI"},
                "noponi": {"Kind": "lambda2m"},
                "badunit": {"Kind": "lambda2m", "Poni": "@PONI", "Unit": "furlongs"},
                "missing": {"Kind": "lambda2m", "Poni": "absent.poni", "Npt": 1}
              }}}
            """);

        var message = Assert.Throws<UsageException>(config.ValidDetectors).Message;

        Assert.StartsWith("the Detectors section of the pipeline configuration is wrong: ", message, StringComparison.Ordinal);
        Assert.Contains("detector 'bad_name': a name is 1–32 characters of A–Z, a–z, 0–9 or '-' (no '_'", message, StringComparison.Ordinal);
        Assert.Contains("detector 'nokind': Kind is missing: give lambda2m or image.", message, StringComparison.Ordinal);
        Assert.Contains("detector 'pilatus': kind 'pilatus9m' is unknown: give lambda2m or image.", message, StringComparison.Ordinal);
        Assert.Contains("detector 'noponi': Poni is missing: every detector needs its own calibration", message, StringComparison.Ordinal);
        Assert.Contains("detector 'badunit': unit 'furlongs' is unknown", message, StringComparison.Ordinal);
        Assert.Contains("detector 'missing': ", message, StringComparison.Ordinal);
        Assert.Contains("absent.poni", message, StringComparison.Ordinal);
        Assert.Contains("detector 'missing': npt", message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Stream_ConfiguredDetectors_NamesAcquisitionAndDetector_ParsesBack_RefusesUnknownAndAmbiguous()
    {
        var detectors = Load("""
            {"Pipeline": {"Detectors": {"lambda1": {"Kind": "lambda2m", "Poni": "@PONI"}, "far-2": {"Kind": "lambda2m", "Poni": "@PONI"}}}}
            """).ValidDetectors();

        var (stream, detector) = detectors.Stream("scan_a_00001", "far-2");
        Assert.Equal(("scan_a_00001_far-2", "far-2"), (stream, detector!.Name));
        Assert.Equal(("scan_a_00001", "far-2"), detectors.Parse(stream) is { } run ? (run.Acquisition, run.Detector.Name) : default);
        Assert.Null(detectors.Parse("scan_a_00001"));

        var unknown = Assert.Throws<ArgumentException>(() => detectors.Stream("scan_a_00001", "lambda3", "x/scan_a_00001_m1_part00000.nxs"));
        Assert.Equal("detector 'lambda3' (file x/scan_a_00001_m1_part00000.nxs) is unknown: give one of the configured detectors, far-2, lambda1.", unknown.Message);
        var unnamed = Assert.Throws<ArgumentException>(() => detectors.Stream("scan_a_00001", ""));
        Assert.Equal("no detector named: 2 detectors are configured, so name one of far-2, lambda1.", unnamed.Message);
        var tooLong = Assert.Throws<ArgumentException>(() => detectors.Stream(new string('a', 125), "lambda1"));
        Assert.Contains("give a shorter acquisition name", tooLong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stream_OneDetector_NoNameMeansIt()
    {
        var detectors = Load("""{"Pipeline": {"Detectors": {"lambda1": {"Kind": "lambda2m", "Poni": "@PONI"}}}}""").ValidDetectors();

        Assert.Equal("scan_00001_lambda1", detectors.Stream("scan_00001", "").Stream);
    }

    [Fact]
    public void PoniFormat_DerivedGeometry_ReadsBackExactly()
    {
        var geometry = LambdaSimulator.DetectorGeometry(PoniFile.Load(Poni), 1);

        Assert.Equal(geometry, PoniFile.Parse(PoniFile.Format(geometry, "test")));
        Assert.NotEqual(PoniFile.Load(Poni).Distance, geometry.Distance);
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);

    // @PONI in the JSON stands for the real P02.2 calibration's path.
    private PipelineConfig Load(string json)
    {
        var path = Path.Combine(folder, "pipeline.json");
        File.WriteAllText(path, json.Replace("@PONI", Poni, StringComparison.Ordinal));
        return PipelineConfig.Load(path);
    }
}
