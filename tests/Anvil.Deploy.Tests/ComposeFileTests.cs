using Anvil.Testing;
using YamlDotNet.RepresentationModel;

namespace Anvil.Deploy.Tests;

/// <summary>
/// The compose files' own rules (docker-compose 1.29 checks their syntax in tests/containers/smoke.sh): the test
/// overlay keeps every service on the host network with nothing published, and the stack is healthy-gated.
/// </summary>
public class ComposeFileTests
{
    private static readonly string[] ChainServices = ["broker", "ingest", "stitch", "integrate", "merge"];

    [Fact]
    public void CiOverlay_PutsEveryServiceOnTheHostNetwork_AndCreatesNoNetwork()
    {
        var baseServices = Services(Load("compose.yaml"));
        var ci = Load("compose.ci.yaml");
        var ciServices = Services(ci);

        foreach (var name in baseServices.Keys.Concat(ciServices.Keys).Distinct())
        {
            Assert.True(ciServices.TryGetValue(name, out var service) && Scalar(service, "network_mode") == "host",
                $"compose.ci.yaml must give service {name} network_mode: host");
            Assert.False(Has(service, "ports"), $"compose.ci.yaml publishes ports of {name}");
            Assert.False(baseServices.TryGetValue(name, out var baseService) && Has(baseService, "ports"),
                $"compose.yaml publishes ports of {name}; they belong in compose.override.yaml (host mode refuses them)");
        }

        var defaultNetwork = (YamlMappingNode)((YamlMappingNode)ci.Children["networks"]).Children["default"];
        Assert.Equal("true", Scalar(defaultNetwork, "external"));
        Assert.Equal("none", Scalar(defaultNetwork, "name"));
    }

    [Fact]
    public void CiOverlay_GivesEveryEndpointItsOwnLoopbackPort()
    {
        var urls = Services(Load("compose.ci.yaml"))
            .Select(s => (Name: s.Key, Url: Environment(s.Value).GetValueOrDefault("Kestrel__Endpoints__Grpc__Url")))
            .Where(s => s.Url is not null)
            .ToList();

        Assert.Equal(10, urls.Count); // five chain services, integrate's second replica, the reprocess pool's three and the console
        Assert.All(urls, s => Assert.StartsWith("http://127.0.0.1:", s.Url, StringComparison.Ordinal));
        Assert.Equal(urls.Count, urls.Select(s => s.Url).Distinct().Count());
    }

    [Fact]
    public void Stack_IsHealthGated_ReadOnly_AndScalesIntegrate()
    {
        var services = Services(Load("compose.yaml"));

        foreach (var name in ChainServices)
        {
            var service = services[name];
            var test = (YamlSequenceNode)Child((YamlMappingNode)Child(service, "healthcheck")!, "test")!;
            Assert.Equal("CMD-SHELL", test.Children[0].ToString());
            Assert.Contains("anvil-health", test.Children[1].ToString(), StringComparison.Ordinal);
            Assert.Equal("true", Scalar(service, "read_only"));
            if (name != "broker")
            {
                var dependsOn = (YamlMappingNode)Child((YamlMappingNode)Child(service, "depends_on")!, "broker")!;
                Assert.Equal("service_healthy", Scalar(dependsOn, "condition"));
            }
        }

        var deploy = (YamlMappingNode)Child(services["integrate"], "deploy")!;
        Assert.Equal("2", Scalar(deploy, "replicas"));
        Assert.Equal("telemetry", ((YamlSequenceNode)Child(services["otel-collector"], "profiles")!).Children.Single().ToString());
    }

    internal static YamlMappingNode Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(TestPaths.RepoRoot, file));
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    internal static Dictionary<string, YamlMappingNode> Services(YamlMappingNode root) =>
        ((YamlMappingNode)root.Children["services"]).Children.ToDictionary(kv => kv.Key.ToString(), kv => (YamlMappingNode)kv.Value);

    // A key of a mapping, looking through YAML merge keys (<<: *anchor), which the representation model keeps as-is.
    internal static YamlNode? Child(YamlMappingNode? node, string key)
    {
        if (node is null)
        {
            return null;
        }

        if (node.Children.TryGetValue(key, out var value))
        {
            return value;
        }

        return node.Children.TryGetValue("<<", out var merged) ? merged switch
        {
            YamlMappingNode mapping => Child(mapping, key),
            YamlSequenceNode list => list.Children.OfType<YamlMappingNode>().Select(m => Child(m, key)).FirstOrDefault(n => n is not null),
            _ => null,
        } : null;
    }

    private static bool Has(YamlMappingNode? node, string key) => Child(node, key) is not null;

    internal static string? Scalar(YamlMappingNode? node, string key) => Child(node, key)?.ToString();

    // The environment mapping, with YAML merge keys (<<: *anchor) resolved one level deep.
    internal static Dictionary<string, string> Environment(YamlMappingNode service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!service.Children.TryGetValue("environment", out var env))
        {
            return result;
        }

        foreach (var (key, value) in ((YamlMappingNode)env).Children)
        {
            if (key.ToString() == "<<")
            {
                foreach (var (k, v) in ((YamlMappingNode)value).Children)
                {
                    result.TryAdd(k.ToString(), v.ToString());
                }
            }
            else
            {
                result[key.ToString()] = value.ToString();
            }
        }

        return result;
    }
}
