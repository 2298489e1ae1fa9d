namespace Anvil.Broker.Core.Storage;

/// <summary>
/// The journal file of one (group, stream): opened on the group's first change, compacted into a snapshot (the
/// state written as fresh records into a new file that atomically replaces the old one) once it grows past
/// <see cref="CompactBytes"/>, so replay time does not grow with stream length (docs/broker.md §7).
/// </summary>
internal sealed class GroupFiles(string path, string name, RecordWriter writer)
{
    public long CompactBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary>The length of the intact journal found at recovery, or null for a group without a file yet.</summary>
    public long? RecoveredLength { get; init; }

    /// <summary>Creates the stream's directory (with its key file) before the first journal is.</summary>
    public Action? EnsureDirectory { get; init; }

    public GroupJournal Open()
    {
        if (RecoveredLength is { } length && File.Exists(path))
        {
            return new GroupJournal(File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read), length);
        }

        EnsureDirectory?.Invoke();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var journal = new GroupJournal(File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read), 0);
        try
        {
            // Its own writer: the shared one holds the record that made the group open its journal.
            journal.Append(new RecordWriter().U8(GroupState.OpName).Str(name).Finish());
            RandomAccess.FlushToDisk(journal.Handle);
            BrokerStorage.SyncDirectory(Path.GetDirectoryName(path)!);
            return journal;
        }
        catch
        {
            // A full disk, say: the next change creates the file again.
            journal.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Replaces the journal by a snapshot of <paramref name="state"/>; on a full disk keeps <paramref name="current"/> (whole
    /// and in force: compaction only saves replay time) and tries again at the next change.
    /// </summary>
    public GroupJournal Compact(GroupState state, GroupJournal current)
    {
        var temp = path + ".tmp";
        var next = new GroupJournal(File.OpenHandle(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.Read), 0);
        try
        {
            next.Append(writer.Reset().U8(GroupState.OpName).Str(name).Finish());
            state.WriteSnapshot(next.Append);
            RandomAccess.FlushToDisk(next.Handle);
        }
        catch (Exception ex) when (ex is BrokerException { Reason: ErrorReasons.StorageFull } || StorageWrites.IsDiskFull(ex))
        {
            next.Dispose();
            File.Delete(temp);
            return current;
        }

        File.Move(temp, path, overwrite: true);
        BrokerStorage.SyncDirectory(Path.GetDirectoryName(path)!);
        current.Dispose();
        return next;
    }
}
