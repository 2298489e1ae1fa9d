using System.Diagnostics;
using Anvil.Pipeline.V1;
using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Anvil.ServiceDefaults;

/// <summary>
/// <c>anvil.pipeline.v1.ProcessStatus</c>: this process's own CPU time, resident memory and start time, served by every
/// service so the console can show load wherever the services run (no supervisor needed under Compose or Kubernetes),
/// and its newest log lines (<see cref="RecentLog"/>).
/// </summary>
public sealed class ProcessStatusService(IConfiguration configuration, IHostEnvironment environment, RecentLog log) : ProcessStatus.ProcessStatusBase
{
    private readonly string service = configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : environment.ApplicationName;

    /// <inheritdoc />
    public override Task<ProcessStatusReply> GetStatus(ProcessStatusRequest request, ServerCallContext context)
    {
        using var process = Process.GetCurrentProcess();
        return Task.FromResult(new ProcessStatusReply
        {
            Service = service,
            Host = Environment.MachineName,
            Pid = Environment.ProcessId,
            StartedUnixMs = new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds(),
            CpuSeconds = process.TotalProcessorTime.TotalSeconds,
            RssBytes = (ulong)Math.Max(0, process.WorkingSet64),
            ManagedHeapBytes = (ulong)Math.Max(0, GC.GetTotalMemory(forceFullCollection: false)),
            Processors = (uint)Environment.ProcessorCount,
            Threads = process.Threads.Count,
        });
    }

    /// <inheritdoc />
    public override Task<GetLogReply> GetLog(GetLogRequest request, ServerCallContext context)
    {
        if (request.Lines > RecentLog.Capacity)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"lines is {request.Lines}: ask for 1 to {RecentLog.Capacity} lines (0 = 2000), the most this process keeps"));
        }

        return Task.FromResult(new GetLogReply { Text = log.Tail(request.Lines == 0 ? 2000 : (int)request.Lines), LinesDropped = log.Dropped });
    }
}
