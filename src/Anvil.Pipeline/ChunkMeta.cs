using System.Text.Json;

namespace Anvil.Pipeline;

/// <summary>
/// The metadata ingest stores with each raw chunk part (<c>{"part":…,"module":…,"frames":…}</c>): written by ingest,
/// read by stitch (how many frames to wait for) and by reprocessing (to announce the same chunks again).
/// </summary>
public static class ChunkMeta
{
    /// <summary>The meta JSON of one module file of a chunk part.</summary>
    public static string Format(uint part, uint module, uint frames) =>
        JsonSerializer.Serialize(new { part, module, frames });

    /// <summary>The frames the detector announced for the chunk; 0 when unknown.</summary>
    public static uint AnnouncedFrames(string meta)
    {
        using var json = JsonDocument.Parse(string.IsNullOrEmpty(meta) ? "{}" : meta);
        return json.RootElement.TryGetProperty("frames", out var frames) && frames.TryGetUInt32(out var n) ? n : 0;
    }
}
