using Anvil.Pipeline.V1;
using Anvil.Pressure;
using Grpc.Core;

namespace Anvil.Merge.Service.Merging;

/// <summary>
/// anvil.pipeline.v1.LivePressure: the P(t) merge's online stage has tracked so far for an acquisition it is merging,
/// so the console can plot it while the ramp runs. Read from the same rows the result's <c>/processed/pressure</c> is
/// written from (<see cref="PressureGroup.Series"/>).
/// </summary>
public sealed class LivePressureService(MergeWorker merge) : LivePressure.LivePressureBase
{
    public override Task<LivePressureReply> Get(LivePressureRequest request, ServerCallContext context)
    {
        if (request.Acquisition.Length is 0 or > 128)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "give the acquisition (1–128 characters)."));
        }

        if (merge.LivePressure(request.Acquisition) is not { } live)
        {
            throw new RpcException(new Status(StatusCode.NotFound,
                "merge is not merging this acquisition now, or no frame of it asked for a pressure yet; a finished acquisition's pressure is in its result file."));
        }

        var s = live.Series;
        var reply = new LivePressureReply
        {
            Marker = s.Marker,
            Hkl = s.Hkl,
            Eos = s.Eos,
            TimeSource = s.TimeSource,
            SettingsHash = s.SettingsHash,
            Program = s.Program,
            FramesMerged = (ulong)live.Merged,
        };
        reply.Frame.Add(s.Frame);
        reply.FrameTime.Add(s.Time);
        reply.Pressure.Add(s.Pressure);
        reply.PressureError.Add(s.PressureError);
        reply.Position.Add(s.Position);
        reply.Fwhm.Add(s.Fwhm);
        reply.DSpacing.Add(s.DSpacing);
        reply.Ok.Add(s.Ok.Select(o => o == 1));
        reply.Reason.Add(s.Reason);
        return Task.FromResult(reply);
    }
}
