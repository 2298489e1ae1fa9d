using k8s;
using k8s.Models;

namespace Anvil.Deploy.Tests;

public class KubernetesManifestTests
{
    public static TheoryData<string> Overlays => new() { "workstation", "facility" };

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Overlay_ParsesStrictly_WithEveryPartOfTheChain(string overlay)
    {
        var objects = Manifests.LoadStrict(await Manifests.RenderAsync(overlay));

        var broker = Assert.Single(objects.OfType<V1StatefulSet>());
        Assert.Equal("anvil-broker", broker.Metadata.Name);
        Assert.Equal("ReadWriteOnce", Assert.Single(Assert.Single(broker.Spec.VolumeClaimTemplates).Spec.AccessModes));
        Assert.Equal(
            ["anvil-console", "anvil-ingest", "anvil-integrate", "anvil-merge", "anvil-stitch"],
            objects.OfType<V1Deployment>().Select(d => d.Metadata.Name).Order(StringComparer.Ordinal));
        Assert.Equal(2, objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "anvil-integrate").Spec.Replicas);
        var hpa = Assert.Single(objects.OfType<V2HorizontalPodAutoscaler>());
        Assert.Equal("anvil-integrate", hpa.Spec.ScaleTargetRef.Name);
        Assert.All(objects.OfType<V1Service>(), s => Assert.Equal("None", s.Spec.ClusterIP));
        Assert.Equal(6, objects.OfType<V1Service>().Count());
        var config = Assert.Single(objects.OfType<V1ConfigMap>());
        Assert.Contains("pipeline.json", config.Data.Keys);
        var detectorData = objects.OfType<V1PersistentVolumeClaim>().Single(p => p.Metadata.Name == "anvil-detector-data");
        Assert.Equal("ReadWriteMany", Assert.Single(detectorData.Spec.AccessModes));
        Assert.NotEmpty(objects.OfType<V1PodDisruptionBudget>());
        var deny = objects.OfType<V1NetworkPolicy>().Single(p => p.Metadata.Name == "anvil-default-deny");
        Assert.Equal(["Ingress", "Egress"], deny.Spec.PolicyTypes);
        Assert.Null(deny.Spec.Ingress);
        Assert.Null(deny.Spec.Egress);
        Assert.All(objects.OfType<IKubernetesObject<V1ObjectMeta>>().Where(o => o is not (V1PersistentVolume or V1Namespace)),
            o => Assert.Equal("anvil", o.Metadata.NamespaceProperty));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Overlay_HoldsTheInvariants(string overlay)
    {
        var objects = Manifests.LoadStrict(await Manifests.RenderAsync(overlay));
        var external = ExternalSecrets(overlay);

        var violations = PodTemplate.From(objects)
            .SelectMany(pod => Invariants.Security(pod).Concat(Invariants.Resources(pod)).Concat(Invariants.Probes(pod))
                .Concat(Invariants.Volumes(pod, objects, external)))
            .Concat(Invariants.Selection(objects))
            .Concat(Invariants.Names(objects))
            .ToList();

        Assert.True(violations.Count == 0, $"{overlay}:\n" + string.Join('\n', violations));
    }

    [Fact]
    public async Task Facility_ShipsNoSecret_AndRequiresBrokerAuth()
    {
        var objects = Manifests.LoadStrict(await Manifests.RenderAsync("facility"));

        Assert.Empty(objects.OfType<V1Secret>());
        var broker = Assert.Single(Assert.Single(objects.OfType<V1StatefulSet>()).Spec.Template.Spec.Containers);
        Assert.Equal("true", broker.Env.Single(e => e.Name == "Broker__Auth__Enabled").Value);
        Assert.All(objects.OfType<V1Deployment>(), d =>
            Assert.Equal("/run/secrets/anvil/pipeline-token", d.Spec.Template.Spec.Containers[0].Env.Single(e => e.Name == "Pipeline__BrokerToken").Value));
    }

    [Fact]
    public async Task Facility_PutsTheConsoleBehindAnIngressWithTls_AndTrustsOnlyItsForwardedHeaders()
    {
        var objects = Manifests.LoadStrict(await Manifests.RenderAsync("facility"));

        var ingress = Assert.Single(objects.OfType<V1Ingress>());
        var tls = Assert.Single(ingress.Spec.Tls);
        var rule = Assert.Single(ingress.Spec.Rules);
        Assert.Equal(tls.Hosts, [rule.Host]);
        Assert.False(string.IsNullOrEmpty(tls.SecretName));
        var backend = Assert.Single(rule.Http.Paths).Backend.Service;
        var service = objects.OfType<V1Service>().Single(s => s.Metadata.Name == backend.Name);
        var port = service.Spec.Ports.Single(p => p.Name == backend.Port.Name);
        Assert.Equal(Anvil.Pipeline.Topology.Load(Anvil.Testing.TestPaths.RepoRoot)["console"].HttpPort, port.Port);

        var console = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "anvil-console").Spec.Template.Spec.Containers.Single();
        var env = console.Env.ToDictionary(e => e.Name, e => e.Value);
        Assert.Equal("true", env["ASPNETCORE_FORWARDEDHEADERS_ENABLED"]);
        Assert.Equal("/run/secrets/anvil-console/users", env["Console__UsersFile"]);

        // Only the ingress controller reaches the page, so the forwarded headers it sets can be trusted.
        var fromIngress = objects.OfType<V1NetworkPolicy>().Single(p => p.Metadata.Name == "anvil-console-from-ingress");
        Assert.Equal("console", fromIngress.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"]);
        Assert.Equal(port.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Assert.Single(Assert.Single(fromIngress.Spec.Ingress).Ports).Port.Value);
    }

    [Fact]
    public async Task StrictLoading_RejectsAnUnknownField()
    {
        var yaml = await Manifests.RenderAsync("workstation");
        var misspelt = yaml.Replace("serviceName: anvil-broker", "serviceName: anvil-broker\n  serviceNam: anvil-broker", StringComparison.Ordinal);
        Assert.NotEqual(yaml, misspelt);

        Assert.ThrowsAny<Exception>(() => Manifests.LoadStrict(misspelt));
    }

    [Fact]
    public async Task InvariantCheck_ReportsAContainerWithoutLimitsOrProbes()
    {
        var objects = Manifests.LoadStrict(await Manifests.RenderAsync("workstation"));
        var merge = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "anvil-merge");
        var container = merge.Spec.Template.Spec.Containers[0];
        container.Resources.Limits = null;
        container.LivenessProbe = null;
        container.SecurityContext.ReadOnlyRootFilesystem = false;

        var pod = PodTemplate.From([merge]).Single();
        var violations = Invariants.Resources(pod).Concat(Invariants.Probes(pod)).Concat(Invariants.Security(pod)).ToList();

        Assert.Contains(violations, v => v.Contains("no cpu limit", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("no gRPC liveness probe", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("readOnlyRootFilesystem", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ReprocessJob_IsValid_AndNeverOverwritesEarlierResults()
    {
        var job = Manifests.LoadReprocessJob();
        var cluster = Manifests.LoadStrict(await Manifests.RenderAsync("workstation"));
        var pod = PodTemplate.From([job]).Single();

        // A new name per Job, no retries into a used folder, a guard that runs first.
        Assert.Null(job.Metadata.Name);
        Assert.Equal("anvil-reprocess-", job.Metadata.GenerateName);
        Assert.Equal(0, job.Spec.BackoffLimit);
        var init = pod.Template.Spec.InitContainers;
        Assert.Equal("guard", init[0].Name);
        Assert.Null(init[0].RestartPolicy);
        Assert.Contains("refusing to overwrite", string.Join(' ', init[0].Command), StringComparison.Ordinal);
        Assert.All(pod.AllContainers, c => Assert.Equal(
            "/results/reprocessed/$(JOB_NAME)", c.Env.Single(e => e.Name == "Pipeline__OutputDir").Value));
        var jobName = pod.AllContainers.First().Env.Single(e => e.Name == "JOB_NAME");
        Assert.Equal("metadata.labels['batch.kubernetes.io/job-name']", jobName.ValueFrom.FieldRef.FieldPath);

        // Isolated from the live chain: every container talks to the pod's own broker over loopback (never anvil-broker),
        // its ingest re-reads the acquisition's folder, and its stage workers follow that private chain's acquisitions
        // (the default live pool of a broker nobody else uses: no Pipeline__Pool).
        Assert.All(pod.AllContainers, c => Assert.Equal("http://127.0.0.1:5100", c.Env.Single(e => e.Name == "Pipeline__Broker").Value));
        Assert.All(pod.AllContainers, c => Assert.DoesNotContain(c.Env, e => e.Name == "Pipeline__Pool"));
        Assert.Equal("$(ACQUISITION_DIR)", pod.LongRunning.Single(c => c.Name == "ingest").Env.Single(e => e.Name == "Ingest__Watch").Value);

        // The whole chain as native sidecars, on distinct ports.
        Assert.Equal(["broker", "ingest", "stitch", "integrate", "merge"], pod.LongRunning.Select(c => c.Name));
        Assert.Equal(5, pod.LongRunning.Select(c => c.Ports.Single().ContainerPort).Distinct().Count());

        var violations = Invariants.Security(pod).Concat(Invariants.Resources(pod)).Concat(Invariants.Probes(pod))
            .Concat(Invariants.Volumes(pod, cluster, new HashSet<string>())).Concat(Invariants.Names([job])).ToList();
        Assert.True(violations.Count == 0, string.Join('\n', violations));
    }

    // The facility provides the broker's signing secret and the pipeline token itself (k8s/README.md).
    // Secrets made on the cluster, never kept in git: the console's accounts everywhere (k8s/README.md "The console").
    private static HashSet<string> ExternalSecrets(string overlay) =>
        overlay == "facility" ? ["anvil-broker-auth", "anvil-console-users"] : ["anvil-console-users"];
}
