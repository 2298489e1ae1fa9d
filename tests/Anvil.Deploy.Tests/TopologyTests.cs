using System.Text.Json;
using Anvil.Pipeline;
using Anvil.Testing;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Anvil.Deploy.Tests;

/// <summary>
/// The topology is stated once, in deploy/topology.json (the CLI starts the suite from it and tests/containers/smoke.sh
/// builds the images from it); every other file that names a service's port, image arguments or replicas must say the
/// same. Each test lists all disagreements at once.
/// </summary>
public class TopologyTests
{
    private static readonly Topology Topology = Topology.Load(TestPaths.RepoRoot);

    [Fact]
    public void Appsettings_EveryServiceListensOnItsTopologyPort()
    {
        var wrong = new List<string>();
        foreach (var service in Topology.Services)
        {
            var file = Path.Combine(TestPaths.RepoRoot, Path.GetDirectoryName(service.Project)!, "appsettings.json");
            using var json = JsonDocument.Parse(File.ReadAllText(file));
            var endpoints = json.RootElement.GetProperty("Kestrel").GetProperty("Endpoints");
            var url = endpoints.GetProperty("Grpc").GetProperty("Url").GetString();
            if (url != $"http://127.0.0.1:{service.Port}")
            {
                wrong.Add($"{file}: Kestrel:Endpoints:Grpc:Url is {url}, the topology says port {service.Port}");
            }

            // A page (the console's) on its own HTTP/1.1 endpoint, loopback by default.
            var page = service.HttpPort is null ? null : endpoints.TryGetProperty("Http", out var http) ? http.GetProperty("Url").GetString() : "(none)";
            if (service.HttpPort is { } httpPort && page != $"http://127.0.0.1:{httpPort}")
            {
                wrong.Add($"{file}: Kestrel:Endpoints:Http:Url is {page}, the topology says page port {httpPort}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join('\n', wrong));
    }

    [Fact]
    public void Dockerfile_IsOneForEveryService_TakingItsNamePortAndHdf5NeedAsBuildArguments()
    {
        var text = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "services", "Dockerfile"));
        Assert.Contains("dotnet publish services/${SERVICE}/*.csproj", text, StringComparison.Ordinal);
        Assert.Contains("Kestrel__Endpoints__Grpc__Url=http://0.0.0.0:${PORT}", text, StringComparison.Ordinal);
        Assert.Contains("EXPOSE ${PORT}", text, StringComparison.Ordinal);
        Assert.Contains("if [ \"$HDF5\" = true ]", text, StringComparison.Ordinal);
        var copies = Topology.Services.Select(s => Path.Combine(TestPaths.RepoRoot, "services", s.Name, "Dockerfile")).Where(File.Exists).ToList();
        Assert.True(copies.Count == 0, "one Dockerfile serves every service; remove " + string.Join(", ", copies));

        // The entry point runs the one Anvil.*.Service.dll a service's publish folder holds.
        foreach (var service in Topology.Services)
        {
            Assert.Matches(@"^Anvil\.[A-Za-z]+\.Service\.dll$", service.Assembly);
        }
    }

    [Fact]
    public void Compose_BuildsEveryServiceWithItsTopologyArguments_RunsItOnItsPort_WithItsReplicas()
    {
        var services = ComposeFileTests.Services(ComposeFileTests.Load("compose.yaml"));
        var ci = ComposeFileTests.Services(ComposeFileTests.Load("compose.ci.yaml"));
        var wrong = new List<string>();
        var brokerUrl = $"http://broker:{Topology["broker"].Port}";
        foreach (var service in Topology.Services)
        {
            if (!services.TryGetValue(service.Name, out var compose))
            {
                wrong.Add($"compose.yaml has no service {service.Name}");
                continue;
            }

            var environment = ComposeFileTests.Environment(compose);
            var build = (YamlMappingNode?)ComposeFileTests.Child(compose, "build");
            var replicas = ComposeFileTests.Scalar((YamlMappingNode?)ComposeFileTests.Child(compose, "deploy"), "replicas") ?? "1";
            Expect(environment.GetValueOrDefault("Kestrel__Endpoints__Grpc__Url") == $"http://0.0.0.0:{service.Port}", $"compose.yaml {service.Name}: Kestrel URL on port {service.Port}");
            Expect(service.HttpPort is not { } page || environment.GetValueOrDefault("Kestrel__Endpoints__Http__Url") == $"http://0.0.0.0:{page}", $"compose.yaml {service.Name}: page URL on port {service.HttpPort}");
            var args = (YamlMappingNode?)ComposeFileTests.Child(build, "args");
            Expect(ComposeFileTests.Scalar(build, "dockerfile") == "services/Dockerfile", $"compose.yaml {service.Name}: built from services/Dockerfile");
            Expect(ComposeFileTests.Scalar(args, "SERVICE") == service.Name, $"compose.yaml {service.Name}: build argument SERVICE={service.Name}");
            Expect(ComposeFileTests.Scalar(args, "PORT") == service.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), $"compose.yaml {service.Name}: build argument PORT={service.Port}");
            Expect(ComposeFileTests.Scalar(args, "HDF5") == (service.Hdf5 ? "true" : "false"), $"compose.yaml {service.Name}: build argument HDF5={service.Hdf5}");
            Expect(replicas == service.Replicas.ToString(System.Globalization.CultureInfo.InvariantCulture), $"compose.yaml {service.Name}: {service.Replicas} replicas, not {replicas}");
            Expect(service.Name == "broker" || environment.GetValueOrDefault("Pipeline__Broker") == brokerUrl, $"compose.yaml {service.Name}: Pipeline__Broker {brokerUrl}");
            foreach (var (instance, _) in service.Instances())
            {
                Expect(ci.ContainsKey(instance), $"compose.ci.yaml has no service {instance} (one per replica on the host network)");
            }
        }

        Assert.True(wrong.Count == 0, string.Join('\n', wrong));

        void Expect(bool ok, string what)
        {
            if (!ok)
            {
                wrong.Add(what);
            }
        }
    }

    [Fact]
    public void Compose_RunsTheReprocessPool_FromTheStagesImages_InItsOwnPool_AtALowCpuWeight()
    {
        var services = ComposeFileTests.Services(ComposeFileTests.Load("compose.yaml"));
        var ci = ComposeFileTests.Services(ComposeFileTests.Load("compose.ci.yaml"));
        var pool = Topology.ReprocessPool.ToList();
        Assert.Equal(["stitch", "integrate", "merge"], pool.Select(s => s.Name));
        var wrong = new List<string>();
        foreach (var service in pool)
        {
            foreach (var (instance, port) in service.ReprocessInstances())
            {
                if (!services.TryGetValue(instance, out var compose))
                {
                    wrong.Add($"compose.yaml has no service {instance}");
                    continue;
                }

                var environment = ComposeFileTests.Environment(compose);
                Expect(ComposeFileTests.Scalar(compose, "image") == $"anvil/{service.Name}:${{ANVIL_TAG:-dev}}", $"compose.yaml {instance}: the image of {service.Name}");
                Expect(ComposeFileTests.Child(compose, "build") is null, $"compose.yaml {instance}: no build of its own (it runs {service.Name}'s image)");
                Expect(environment.GetValueOrDefault("Kestrel__Endpoints__Grpc__Url") == $"http://0.0.0.0:{port}", $"compose.yaml {instance}: Kestrel URL on port {port}");
                Expect(environment.GetValueOrDefault("Pipeline__Pool") == "reprocess", $"compose.yaml {instance}: Pipeline__Pool reprocess");
                Expect(int.TryParse(ComposeFileTests.Scalar(compose, "cpu_shares"), out var shares) && shares < 1024 / 8, $"compose.yaml {instance}: cpu_shares well below the default 1024");
                Expect(ci.ContainsKey(instance), $"compose.ci.yaml has no service {instance} (on the host network)");
            }
        }

        // The live chain's stages stay in the live pool (the default).
        foreach (var service in pool)
        {
            Expect(!ComposeFileTests.Environment(services[service.Name]).ContainsKey("Pipeline__Pool"), $"compose.yaml {service.Name}: no Pipeline__Pool (the live pool)");
        }

        Assert.True(wrong.Count == 0, string.Join('\n', wrong));

        void Expect(bool ok, string what)
        {
            if (!ok)
            {
                wrong.Add(what);
            }
        }
    }

    [Fact]
    public async Task KubernetesBase_RunsEveryServiceOnItsPort_WithItsReplicas_BehindAServiceOnThatPort()
    {
        var objects = Manifests.LoadStrict(await Manifests.RenderPathAsync(Path.Combine(Manifests.K8sRoot, "base")));
        var wrong = new List<string>();
        foreach (var service in Topology.Services)
        {
            var name = $"anvil-{service.Name}";
            var (replicas, spec) = objects switch
            {
                _ when objects.OfType<V1Deployment>().FirstOrDefault(d => d.Metadata.Name == name) is { } d => (d.Spec.Replicas, d.Spec.Template.Spec),
                _ when objects.OfType<V1StatefulSet>().FirstOrDefault(s => s.Metadata.Name == name) is { } s => (s.Spec.Replicas, s.Spec.Template.Spec),
                _ => ((int?)null, (V1PodSpec?)null),
            };
            if (spec is null)
            {
                wrong.Add($"k8s/base has no Deployment or StatefulSet {name}");
                continue;
            }

            var ports = spec.Containers.SelectMany(c => c.Ports ?? []).Select(p => p.ContainerPort).ToList();
            foreach (var port in service.HttpPort is { } page ? [service.Port, page] : new[] { service.Port })
            {
                if (!ports.Contains(port))
                {
                    wrong.Add($"{name}: containerPort {port} missing (has {string.Join(", ", ports)})");
                }

                var env = spec.Containers.SelectMany(c => c.Env ?? []).ToDictionary(e => e.Name, e => e.Value);
                var variable = port == service.Port ? "Kestrel__Endpoints__Grpc__Url" : "Kestrel__Endpoints__Http__Url";
                if (env.GetValueOrDefault(variable) != $"http://0.0.0.0:{port}")
                {
                    wrong.Add($"{name}: {variable} must be http://0.0.0.0:{port}");
                }
            }

            if (replicas != service.Replicas)
            {
                wrong.Add($"{name}: {replicas} replicas, the topology says {service.Replicas}");
            }

            var svc = objects.OfType<V1Service>().FirstOrDefault(s => s.Metadata.Name == name);
            foreach (var port in service.HttpPort is { } page ? [service.Port, page] : new[] { service.Port })
            {
                if (svc?.Spec.Ports.Any(p => p.Port == port) != true)
                {
                    wrong.Add($"k8s/base Service {name} does not serve port {port}");
                }
            }
        }

        Assert.True(wrong.Count == 0, string.Join('\n', wrong));
    }

    [Fact]
    public void ReprocessJob_RunsEveryServiceOnItsTopologyPort()
    {
        var pod = PodTemplate.From([Manifests.LoadReprocessJob()]).Single();
        var wrong = new List<string>();
        foreach (var service in Topology.Chain)
        {
            var container = pod.LongRunning.FirstOrDefault(c => c.Name == service.Name);
            if (container is null)
            {
                wrong.Add($"k8s/jobs/reprocess-job.yaml has no container {service.Name}");
                continue;
            }

            if (container.Ports?.Single().ContainerPort != service.Port || container.Args?.Contains($"--Kestrel:Endpoints:Grpc:Url=http://0.0.0.0:{service.Port}") != true)
            {
                wrong.Add($"k8s/jobs/reprocess-job.yaml container {service.Name}: port and Kestrel URL must be {service.Port}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join('\n', wrong));
    }

    [Fact]
    public void DefaultAddresses_TheWorkstationConfig_AndTheReadme_SayTheTopologyPorts()
    {
        var instances = Topology.Chain.SelectMany(s => s.Instances()).ToDictionary(i => i.Instance, i => $"http://127.0.0.1:{i.Port}");
        var defaults = new Dictionary<string, string>
        {
            ["broker"] = ServiceAddresses.Broker,
            ["ingest"] = ServiceAddresses.Ingest,
            ["stitch"] = ServiceAddresses.Stitch,
            ["integrate"] = ServiceAddresses.Integrate,
            ["integrate-2"] = ServiceAddresses.Integrate2,
            ["merge"] = ServiceAddresses.Merge,
        };
        Assert.Equal(instances.OrderBy(i => i.Key), defaults.OrderBy(i => i.Key));

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "config", "pipeline.json")));
        Assert.Equal(instances["broker"], config.RootElement.GetProperty("Pipeline").GetProperty("Broker").GetString());

        var readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var missing = instances.Where(i => !readme.Contains($"`{i.Value[7..]}`", StringComparison.Ordinal)).Select(i => $"{i.Key} {i.Value}").ToList();
        Assert.True(missing.Count == 0, "README.md's address table lacks " + string.Join(", ", missing));

        // The console's two ports: the README's row and the CLI's defaults (src/Anvil.Cli/ConsolePorts.cs reads the topology).
        var console = Topology["console"];
        Assert.False(console.Chain);
        Assert.Contains($"page `127.0.0.1:{console.HttpPort}` (HTTP/1.1), health `127.0.0.1:{console.Port}` (h2c)", readme, StringComparison.Ordinal);
    }
}
