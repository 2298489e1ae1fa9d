using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace Anvil.Deploy.Tests;

/// <summary>
/// What every Anvil manifest must hold beyond the API schema. Each check returns the violations as messages, so a
/// failing test lists all of them at once.
/// </summary>
public static partial class Invariants
{
    /// <summary>Non-root, read-only root file system, no privilege escalation, all capabilities dropped.</summary>
    public static IEnumerable<string> Security(PodTemplate pod)
    {
        var podSecurity = pod.Template.Spec.SecurityContext;
        foreach (var c in pod.AllContainers)
        {
            var where = $"{pod.Owner} container {c.Name}";
            var runAsNonRoot = c.SecurityContext?.RunAsNonRoot ?? podSecurity?.RunAsNonRoot;
            var runAsUser = c.SecurityContext?.RunAsUser ?? podSecurity?.RunAsUser;
            if (runAsNonRoot != true)
            {
                yield return $"{where}: runAsNonRoot is not true";
            }

            if (runAsUser is null or 0)
            {
                yield return $"{where}: needs a numeric non-zero runAsUser";
            }

            if (c.SecurityContext?.ReadOnlyRootFilesystem != true)
            {
                yield return $"{where}: readOnlyRootFilesystem is not true";
            }

            if (c.SecurityContext?.AllowPrivilegeEscalation != false)
            {
                yield return $"{where}: allowPrivilegeEscalation is not false";
            }

            if (c.SecurityContext?.Capabilities?.Drop?.Contains("ALL") != true)
            {
                yield return $"{where}: capabilities do not drop ALL";
            }
        }
    }

    /// <summary>CPU and memory requests and limits on every container, requests not above limits.</summary>
    public static IEnumerable<string> Resources(PodTemplate pod)
    {
        foreach (var c in pod.AllContainers)
        {
            var where = $"{pod.Owner} container {c.Name}";
            foreach (var resource in new[] { "cpu", "memory" })
            {
                ResourceQuantity? request = null, limit = null;
                if (c.Resources?.Requests?.TryGetValue(resource, out request) != true)
                {
                    yield return $"{where}: no {resource} request";
                }

                if (c.Resources?.Limits?.TryGetValue(resource, out limit) != true)
                {
                    yield return $"{where}: no {resource} limit";
                }

                if (request is not null && limit is not null && request.ToDecimal() > limit.ToDecimal())
                {
                    yield return $"{where}: {resource} request {request} exceeds its limit {limit}";
                }
            }
        }
    }

    /// <summary>Long-running containers have native gRPC startup, readiness and liveness probes on a declared port.</summary>
    public static IEnumerable<string> Probes(PodTemplate pod)
    {
        foreach (var c in pod.LongRunning)
        {
            var where = $"{pod.Owner} container {c.Name}";
            var ports = (c.Ports ?? []).Select(p => p.ContainerPort).ToHashSet();
            foreach (var (kind, probe) in new[] { ("startup", c.StartupProbe), ("readiness", c.ReadinessProbe), ("liveness", c.LivenessProbe) })
            {
                if (probe?.Grpc is null)
                {
                    yield return $"{where}: no gRPC {kind} probe";
                }
                else if (!ports.Contains(probe.Grpc.Port))
                {
                    yield return $"{where}: {kind} probe port {probe.Grpc.Port} is not one of its container ports";
                }
            }
        }
    }

    /// <summary>Every mounted volume is declared, and every declared ConfigMap, Secret and claim exists among the objects.</summary>
    public static IEnumerable<string> Volumes(PodTemplate pod, IReadOnlyCollection<object> objects, IReadOnlySet<string> externalSecrets)
    {
        var declared = (pod.Template.Spec.Volumes ?? []).ToDictionary(v => v.Name);
        foreach (var c in pod.AllContainers)
        {
            foreach (var mount in c.VolumeMounts ?? [])
            {
                if (!declared.ContainsKey(mount.Name) && !pod.ClaimTemplates.Contains(mount.Name))
                {
                    yield return $"{pod.Owner} container {c.Name}: mounts undeclared volume {mount.Name}";
                }
            }
        }

        var configMaps = objects.OfType<V1ConfigMap>().Select(o => o.Metadata.Name).ToHashSet();
        var secrets = objects.OfType<V1Secret>().Select(o => o.Metadata.Name).ToHashSet();
        var claims = objects.OfType<V1PersistentVolumeClaim>().Select(o => o.Metadata.Name).ToHashSet();
        foreach (var v in declared.Values)
        {
            if (v.ConfigMap is { } cm && !configMaps.Contains(cm.Name))
            {
                yield return $"{pod.Owner}: ConfigMap {cm.Name} does not exist";
            }

            if (v.Secret is { } s && !secrets.Contains(s.SecretName) && !externalSecrets.Contains(s.SecretName))
            {
                yield return $"{pod.Owner}: Secret {s.SecretName} does not exist";
            }

            if (v.PersistentVolumeClaim is { } pvc && !claims.Contains(pvc.ClaimName))
            {
                yield return $"{pod.Owner}: PersistentVolumeClaim {pvc.ClaimName} does not exist";
            }
        }
    }

    /// <summary>Workload selectors match their own pods; Services, PDBs, HPAs and NetworkPolicies select something real.</summary>
    public static IEnumerable<string> Selection(IReadOnlyCollection<object> objects)
    {
        var pods = PodTemplate.From(objects).ToList();
        foreach (var pod in pods.Where(p => !p.Owner.StartsWith("Job/", StringComparison.Ordinal)))
        {
            if (!Selectors.Matches(pod.Selector, pod.Labels))
            {
                yield return $"{pod.Owner}: its selector does not match its pod template's labels";
            }
        }

        foreach (var service in objects.OfType<V1Service>())
        {
            var selected = pods.Where(p => Selectors.Matches(service.Spec.Selector, p.Labels)).ToList();
            if (selected.Count == 0)
            {
                yield return $"Service/{service.Metadata.Name}: selects no pods";
                continue;
            }

            var portNames = selected.SelectMany(p => p.Template.Spec.Containers).SelectMany(c => c.Ports ?? []).Select(p => p.Name).ToHashSet();
            foreach (var port in service.Spec.Ports.Where(p => p.TargetPort is not null && !int.TryParse(p.TargetPort.Value, out _)))
            {
                if (!portNames.Contains(port.TargetPort.Value))
                {
                    yield return $"Service/{service.Metadata.Name}: targetPort {port.TargetPort.Value} is no container port name";
                }
            }
        }

        foreach (var statefulSet in objects.OfType<V1StatefulSet>())
        {
            var service = objects.OfType<V1Service>().FirstOrDefault(s => s.Metadata.Name == statefulSet.Spec.ServiceName);
            if (service?.Spec.ClusterIP != "None")
            {
                yield return $"StatefulSet/{statefulSet.Metadata.Name}: serviceName {statefulSet.Spec.ServiceName} is not a headless Service";
            }
        }

        foreach (var pdb in objects.OfType<V1PodDisruptionBudget>())
        {
            if (!pods.Any(p => Selectors.Matches(pdb.Spec.Selector, p.Labels)))
            {
                yield return $"PodDisruptionBudget/{pdb.Metadata.Name}: selects no pods";
            }
        }

        foreach (var hpa in objects.OfType<V2HorizontalPodAutoscaler>())
        {
            var target = hpa.Spec.ScaleTargetRef;
            if (!pods.Any(p => p.Owner == $"{target.Kind}/{target.Name}"))
            {
                yield return $"HorizontalPodAutoscaler/{hpa.Metadata.Name}: target {target.Kind}/{target.Name} does not exist";
            }

            if (hpa.Spec.MinReplicas is null or < 1 || hpa.Spec.MaxReplicas < hpa.Spec.MinReplicas)
            {
                yield return $"HorizontalPodAutoscaler/{hpa.Metadata.Name}: replicas {hpa.Spec.MinReplicas}..{hpa.Spec.MaxReplicas}";
            }
        }

        foreach (var policy in objects.OfType<V1NetworkPolicy>())
        {
            if (!pods.Any(p => Selectors.Matches(policy.Spec.PodSelector, p.Labels)))
            {
                yield return $"NetworkPolicy/{policy.Metadata.Name}: selects no pods";
            }
        }
    }

    /// <summary>Names are DNS-1123 labels (63 characters at most) and unique per kind.</summary>
    public static IEnumerable<string> Names(IReadOnlyCollection<object> objects)
    {
        var seen = new HashSet<string>();
        foreach (var o in objects.OfType<IKubernetesObject<V1ObjectMeta>>())
        {
            var name = o.Metadata.Name ?? o.Metadata.GenerateName;
            if (name is null || name.Length > 63 || !Dns1123().IsMatch(name.TrimEnd('-')))
            {
                yield return $"{o.Kind} name '{name}' is not a DNS-1123 label";
            }

            if (!seen.Add($"{o.Kind}/{name}"))
            {
                yield return $"{o.Kind}/{name} appears twice";
            }
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123();
}
