using System.Diagnostics;
using Anvil.Testing;
using k8s;
using k8s.Models;

namespace Anvil.Deploy.Tests;

/// <summary>Renders the kustomize overlays with <c>kubectl kustomize</c> (offline) and parses them strictly.</summary>
public static class Manifests
{
    public static string K8sRoot => Path.Combine(TestPaths.RepoRoot, "k8s");

    /// <summary>The overlay's rendered YAML.</summary>
    public static Task<string> RenderAsync(string overlay) => RenderPathAsync(Path.Combine(K8sRoot, "overlays", overlay));

    /// <summary>The rendered YAML of a kustomization folder.</summary>
    public static async Task<string> RenderPathAsync(string folder)
    {
        var start = new ProcessStartInfo("kubectl")
        {
            ArgumentList = { "kustomize", folder },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start kubectl");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().DefaultTimeout();
        Assert.True(process.ExitCode == 0, $"kubectl kustomize {folder} failed ({process.ExitCode}): {await error}");
        return await output;
    }

    /// <summary>Every object, typed; strict mode rejects unknown fields, wrong types and unknown kinds.</summary>
    public static List<object> LoadStrict(string yaml) => KubernetesYaml.LoadAllFromString(yaml, strict: true);

    /// <summary>The reprocessing Job template (k8s/jobs/reprocess-job.yaml).</summary>
    public static V1Job LoadReprocessJob()
    {
        var objects = LoadStrict(File.ReadAllText(Path.Combine(K8sRoot, "jobs", "reprocess-job.yaml")));
        return Assert.IsType<V1Job>(Assert.Single(objects));
    }
}

/// <summary>A workload's pod template, named for messages.</summary>
public sealed record PodTemplate(string Owner, V1LabelSelector? Selector, V1PodTemplateSpec Template)
{
    /// <summary>Volumes a StatefulSet's claim templates add to each pod.</summary>
    public IReadOnlyCollection<string> ClaimTemplates { get; init; } = [];

    public static IEnumerable<PodTemplate> From(IEnumerable<object> objects)
    {
        foreach (var o in objects)
        {
            switch (o)
            {
                case V1Deployment d:
                    yield return new($"Deployment/{d.Metadata.Name}", d.Spec.Selector, d.Spec.Template);
                    break;
                case V1StatefulSet s:
                    yield return new($"StatefulSet/{s.Metadata.Name}", s.Spec.Selector, s.Spec.Template)
                    {
                        ClaimTemplates = (s.Spec.VolumeClaimTemplates ?? []).Select(c => c.Metadata.Name).ToList(),
                    };
                    break;
                case V1Job j:
                    yield return new($"Job/{j.Metadata.Name ?? j.Metadata.GenerateName}", j.Spec.Selector, j.Spec.Template);
                    break;
            }
        }
    }

    public IDictionary<string, string> Labels => Template.Metadata?.Labels ?? new Dictionary<string, string>();

    /// <summary>Containers that run for the pod's lifetime: regular ones of a Deployment or StatefulSet, and native sidecars.</summary>
    public IEnumerable<V1Container> LongRunning =>
        (Owner.StartsWith("Job/", StringComparison.Ordinal) ? [] : Template.Spec.Containers)
        .Concat((Template.Spec.InitContainers ?? []).Where(c => c.RestartPolicy == "Always"));

    public IEnumerable<V1Container> AllContainers => Template.Spec.Containers.Concat(Template.Spec.InitContainers ?? []);
}

/// <summary>Label selector matching (matchLabels and the In / NotIn / Exists / DoesNotExist expressions).</summary>
public static class Selectors
{
    public static bool Matches(V1LabelSelector? selector, IDictionary<string, string> labels)
    {
        if (selector is null)
        {
            return false;
        }

        var byLabels = (selector.MatchLabels ?? new Dictionary<string, string>()).All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value);
        var byExpressions = (selector.MatchExpressions ?? []).All(e => e.OperatorProperty switch
        {
            "In" => labels.TryGetValue(e.Key, out var v) && e.Values.Contains(v),
            "NotIn" => !labels.TryGetValue(e.Key, out var v) || !e.Values.Contains(v),
            "Exists" => labels.ContainsKey(e.Key),
            "DoesNotExist" => !labels.ContainsKey(e.Key),
            _ => throw new InvalidOperationException($"unknown selector operator {e.OperatorProperty}"),
        });
        return byLabels && byExpressions;
    }

    public static bool Matches(IDictionary<string, string>? selector, IDictionary<string, string> labels) =>
        selector is { Count: > 0 } && selector.All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value);
}
