using System.Text.Json;

namespace Anvil.Pipeline;

/// <summary>One service of the suite as deploy/topology.json states it.</summary>
/// <param name="Name">The service's name (folder under services/, compose service, Kubernetes workload).</param>
/// <param name="Project">Its project, relative to the repository root.</param>
/// <param name="Port">Its gRPC port; replica k listens on <c>Port + k − 1</c> on one machine.</param>
/// <param name="Replicas">Replicas by default (they share the stage's consumer group).</param>
/// <param name="Hdf5">Whether it reads HDF5 (its image needs libhdf5).</param>
/// <param name="HttpPort">Its HTTP/1.1 page port, if it serves one (the console); its gRPC health stays on <paramref name="Port"/>.</param>
/// <param name="Chain">Whether it is part of the processing chain (false for the console, which only watches and steers it).</param>
public sealed record TopologyService(string Name, string Project, int Port, int Replicas, bool Hdf5, int? HttpPort = null, bool Chain = true)
{
    /// <summary>The instance names on one machine: the name, then name-2, name-3, …</summary>
    public IEnumerable<(string Instance, int Port)> Instances() =>
        Enumerable.Range(1, Replicas).Select(k => (k == 1 ? Name : $"{Name}-{k}", Port + k - 1));

    /// <summary>The assembly the project builds (…/Anvil.Ingest.Service.csproj → Anvil.Ingest.Service.dll).</summary>
    public string Assembly => Path.GetFileNameWithoutExtension(Project) + ".dll";
}

/// <summary>
/// The suite's topology, stated once in deploy/topology.json: the services in start order with their projects, ports
/// and replicas. The CLI starts the suite from it; a deployment test checks Compose, Kubernetes, the Dockerfiles and the
/// services' appsettings against it.
/// </summary>
public sealed record Topology(IReadOnlyList<TopologyService> Services)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    /// <summary>The processing chain's services (broker, ingest, stitch, integrate, merge), without the console.</summary>
    public IEnumerable<TopologyService> Chain => Services.Where(s => s.Chain);

    /// <summary>The file's path below a repository root.</summary>
    public static string PathIn(string repoRoot) => System.IO.Path.Combine(repoRoot, "deploy", "topology.json");

    /// <summary>Reads deploy/topology.json of the checkout at <paramref name="repoRoot"/>.</summary>
    public static Topology Load(string repoRoot)
    {
        var path = PathIn(repoRoot);
        var topology = JsonSerializer.Deserialize<Topology>(File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"{path} is empty.");
        var ports = topology.Services.SelectMany(s => s.Instances().Select(i => i.Port).Concat(s.HttpPort is { } http ? [http] : []))
            .GroupBy(p => p).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (topology.Services.Count == 0 || ports.Count > 0 || topology.Services.Any(s => s.Replicas < 1))
        {
            throw new InvalidDataException($"{path}: give at least one service, each with replicas ≥ 1 and ports that do not overlap (overlapping: {string.Join(", ", ports)}).");
        }

        return topology;
    }

    /// <summary>The service called <paramref name="name"/>.</summary>
    public TopologyService this[string name] =>
        Services.FirstOrDefault(s => s.Name == name) ?? throw new KeyNotFoundException($"deploy/topology.json has no service '{name}'.");
}
