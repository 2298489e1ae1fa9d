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
/// <param name="Reprocess">Its instances in the reprocess pool (stitch, integrate, merge), if it has any.</param>
public sealed record TopologyService(string Name, string Project, int Port, int Replicas, bool Hdf5, int? HttpPort = null, bool Chain = true,
    ReprocessInstances? Reprocess = null)
{
    /// <summary>The instance names on one machine: the name, then name-2, name-3, …</summary>
    public IEnumerable<(string Instance, int Port)> Instances() =>
        Enumerable.Range(1, Replicas).Select(k => (k == 1 ? Name : $"{Name}-{k}", Port + k - 1));

    /// <summary>Its reprocess pool instances on one machine: reprocess-name, then reprocess-name-2, …; none without <see cref="Reprocess"/>.</summary>
    public IEnumerable<(string Instance, int Port)> ReprocessInstances() => Reprocess is { } pool
        ? Enumerable.Range(1, pool.Replicas).Select(k => (k == 1 ? $"{PoolPrefix}{Name}" : $"{PoolPrefix}{Name}-{k}", pool.Port + k - 1))
        : [];

    /// <summary>What a reprocess pool instance's name starts with (its compose service too: reprocess-stitch, …).</summary>
    public const string PoolPrefix = "reprocess-";

    /// <summary>The assembly the project builds (…/Anvil.Ingest.Service.csproj → Anvil.Ingest.Service.dll).</summary>
    public string Assembly => Path.GetFileNameWithoutExtension(Project) + ".dll";
}

/// <summary>
/// A stage's instances in the reprocess pool: the same service, started with <c>Pipeline:Pool=reprocess</c> at
/// <see cref="Topology.ReprocessNice"/>, on its own ports (replica k on <paramref name="Port"/> + k − 1).
/// </summary>
public sealed record ReprocessInstances(int Port, int Replicas);

/// <summary>
/// The suite's topology, stated once in deploy/topology.json: the services in start order with their projects, ports
/// and replicas, and the reprocess pool (the stages' second instances that only reprocessings run through, at
/// <see cref="ReprocessNice"/>). The CLI starts the suite from it; a deployment test checks Compose, Kubernetes, the
/// Dockerfiles and the services' appsettings against it.
/// </summary>
/// <param name="Services">The services in start order.</param>
/// <param name="ReprocessNice">The nice value (0–19) the reprocess pool runs at on one machine: the scheduler gives the live chain the CPU first.</param>
/// <param name="ReprocessIdle">Whether the reprocess pool also runs under Linux's SCHED_IDLE policy (only CPU time nothing else wants; a live service that wakes preempts it at once).</param>
public sealed record Topology(IReadOnlyList<TopologyService> Services, int ReprocessNice = 19, bool ReprocessIdle = true)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    /// <summary>The processing chain's services (broker, ingest, stitch, integrate, merge), without the console.</summary>
    public IEnumerable<TopologyService> Chain => Services.Where(s => s.Chain);

    /// <summary>The reprocess pool's services (stitch, integrate, merge: the stages with <see cref="TopologyService.Reprocess"/>).</summary>
    public IEnumerable<TopologyService> ReprocessPool => Services.Where(s => s.Reprocess is not null);

    /// <summary>The file's path below a repository root.</summary>
    public static string PathIn(string repoRoot) => System.IO.Path.Combine(repoRoot, "deploy", "topology.json");

    /// <summary>Reads deploy/topology.json of the checkout at <paramref name="repoRoot"/>.</summary>
    public static Topology Load(string repoRoot)
    {
        var path = PathIn(repoRoot);
        var topology = JsonSerializer.Deserialize<Topology>(File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"{path} is empty.");
        var ports = topology.Services.SelectMany(s => s.Instances().Concat(s.ReprocessInstances()).Select(i => i.Port).Concat(s.HttpPort is { } http ? [http] : []))
            .GroupBy(p => p).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (topology.Services.Count == 0 || ports.Count > 0 || topology.Services.Any(s => s.Replicas < 1 || s.Reprocess is { Replicas: < 1 })
            || topology.ReprocessNice is < 0 or > 19)
        {
            throw new InvalidDataException($"{path}: give at least one service, each with replicas ≥ 1 (in the reprocess pool too), ports that do not overlap (overlapping: {string.Join(", ", ports)}) and a reprocessNice of 0 to 19.");
        }

        return topology;
    }

    /// <summary>The service called <paramref name="name"/>.</summary>
    public TopologyService this[string name] =>
        Services.FirstOrDefault(s => s.Name == name) ?? throw new KeyNotFoundException($"deploy/topology.json has no service '{name}'.");
}
