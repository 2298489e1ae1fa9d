using Anvil.Broker.Core;
using Anvil.Testing;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>docs/broker.md §2–§3 and checklist items 2, 3, 5, 11: what a producer may store.</summary>
public sealed class ProducerTests
{
    private readonly MessageBroker broker = new(new BrokerOptions());

    [Fact]
    public async Task Send_ThousandConcurrentAutoIds_GetsIdsOneToThousandEachInItsReply()
    {
        var address = Address();
        var sends = Enumerable.Range(0, 1000).Select(i => Task.Run(() =>
            broker.SendAsync(address, new OutgoingMessage { AutoId = true, Name = $"n{i}", Meta = $"{{\"i\":{i}}}" })));
        var outcomes = await Task.WhenAll(sends).DefaultTimeout();

        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (ulong)i), outcomes.Select(o => o.Id).Order());
        foreach (var outcome in outcomes.Take(20))
        {
            var stored = await broker.GetByIdAsync(address, outcome.Id, TimeSpan.Zero).DefaultTimeout();
            Assert.Equal(outcome.TimestampNs, stored.TimestampNs);
        }

        var ex = await Fails(() => broker.SendAsync(address, Message(1001)), ErrorReasons.IdModeMismatch);
        Assert.Equal(BrokerErrorCode.InvalidArgument, ex.Code);
        Assert.Equal(1000UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
    }

    [Fact]
    public async Task Send_AutoIdOnProducerIdStream_FailsWithIdModeMismatch()
    {
        await broker.SendIds(Address(), 1);
        await Fails(() => broker.SendAsync(Address(), new OutgoingMessage { AutoId = true, Name = "x" }), ErrorReasons.IdModeMismatch);
    }

    [Fact]
    public async Task Send_IdZeroWithoutAutoId_FailsWithInvalidArgumentAndStoresNothing()
    {
        var ex = await Fails(() => broker.SendAsync(Address(), Message(0)), ErrorReasons.WrongInput);
        Assert.Equal("id", ex.Field);
        Assert.Empty(await broker.ListStreamsAsync(Address(), "", StreamFilter.All).DefaultTimeout());
    }

    [Fact]
    public async Task Send_IdenticalResendWithNewHeaders_IsDuplicateAndRecordUnchanged()
    {
        var address = Address();
        var first = await broker.SendAsync(address, Message(1) with { Headers = new Dictionary<string, string> { ["traceparent"] = "a" } }).DefaultTimeout();
        var again = await broker.SendAsync(address, Message(1) with
        {
            Meta = "{ }",
            Headers = new Dictionary<string, string> { ["traceparent"] = "b" },
        }).DefaultTimeout();

        Assert.False(first.Duplicate);
        Assert.True(again.Duplicate);
        Assert.Equal(first.TimestampNs, again.TimestampNs);
        var stored = await broker.GetByIdAsync(address, 1, TimeSpan.Zero).DefaultTimeout();
        Assert.Equal("a", stored.Headers["traceparent"]);
        Assert.Equal(1UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
    }

    [Fact]
    public async Task Send_SameIdWithNewMeta_FailsWithConflictingDuplicateNamingMeta()
    {
        var address = Address();
        await broker.SendAsync(address, Message(1, meta: "{\"a\":1}")).DefaultTimeout();
        var ex = await Fails(() => broker.SendAsync(address, Message(1, meta: "{\"a\":2}")), ErrorReasons.ConflictingDuplicate);
        Assert.Equal("meta", ex.Metadata["differing"]);
        Assert.Equal("{\"a\":1}", (await broker.GetByIdAsync(address, 1, TimeSpan.Zero).DefaultTimeout()).Meta);
    }

    [Fact]
    public async Task Send_SameIdWithOtherPayload_FailsWithConflictingDuplicate()
    {
        var address = Address();
        await broker.SendAsync(address, Message(1, payload: [1, 2])).DefaultTimeout();
        var ex = await Fails(() => broker.SendAsync(address, Message(1, payload: [1, 3])), ErrorReasons.ConflictingDuplicate);
        Assert.Contains("payload", ex.Metadata["differing"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_DatasetPartsDisagreeingOnSize_FailWithConflictingDuplicate()
    {
        var address = Address();
        await broker.SendAsync(address, Message(1, substream: 1, size: 3)).DefaultTimeout();
        await Fails(() => broker.SendAsync(address, Message(1, substream: 2, size: 4)), ErrorReasons.ConflictingDuplicate);
        await Fails(() => broker.SendAsync(address, Message(1)), ErrorReasons.ConflictingDuplicate);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/../../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a\\b")]
    public async Task Send_FileOutsideRoot_FailsWithPathOutsideRoot(string name)
    {
        using var root = new TempDir();
        var broker = new MessageBroker(new BrokerOptions { DataRoot = root.Path });
        var ex = await Fails(() => broker.SendAsync(Address(), new OutgoingMessage { Id = 1, Name = name, PayloadKind = PayloadKind.File }),
            ErrorReasons.PathOutsideRoot);
        Assert.Equal(BrokerErrorCode.InvalidArgument, ex.Code);
    }

    [Fact]
    public async Task Send_FileThroughSymlinkOutOfRoot_FailsWithPathOutsideRoot()
    {
        using var root = new TempDir();
        using var elsewhere = new TempDir();
        Directory.CreateSymbolicLink(Path.Combine(root.Path, "link"), elsewhere.Path);
        var broker = new MessageBroker(new BrokerOptions { DataRoot = root.Path });

        await Fails(() => broker.SendAsync(Address(), new OutgoingMessage { Id = 1, Name = "link/new/file.h5", PayloadKind = PayloadKind.File }),
            ErrorReasons.PathOutsideRoot);
        var ok = await broker.SendAsync(Address(), new OutgoingMessage { Id = 1, Name = "scan/not_yet_written.h5", PayloadKind = PayloadKind.File, Size = 42 }).DefaultTimeout();
        Assert.Equal(1UL, ok.Id);
    }

    [Fact]
    public async Task Send_RawPathFromProcessedSourceWithSubfolderRule_FailsWithPathOutsideRoot()
    {
        using var root = new TempDir();
        var broker = new MessageBroker(new BrokerOptions { DataRoot = root.Path, RequireSourceSubfolder = true });
        await Fails(() => broker.SendAsync(Address(), new OutgoingMessage { Id = 1, Name = "raw/a.h5", PayloadKind = PayloadKind.File, SourceType = SourceType.Processed }),
            ErrorReasons.PathOutsideRoot);
        await broker.SendAsync(Address(), new OutgoingMessage { Id = 1, Name = "raw/a.h5", PayloadKind = PayloadKind.File, SourceType = SourceType.Raw }).DefaultTimeout();
    }

    [Fact]
    public async Task Send_FileWithoutDataRoot_FailsWithNoDataRoot() =>
        await Fails(() => broker.SendAsync(Address(), new OutgoingMessage { Id = 1, Name = "a.h5", PayloadKind = PayloadKind.File }), ErrorReasons.NoDataRoot);

    [Fact]
    public async Task Send_OversizedInline_FailsWithPayloadTooLarge()
    {
        var broker = new MessageBroker(new BrokerOptions { MaxInlineBytes = 1024 });
        await Fails(() => broker.SendAsync(Address(), Message(1, payload: new byte[1025])), ErrorReasons.PayloadTooLarge);
        await broker.SendAsync(Address(), Message(1, payload: new byte[1024])).DefaultTimeout();
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("1")]
    [InlineData("{")]
    public async Task Send_MetaNotAnObject_FailsWithInvalidArgument(string meta)
    {
        var ex = await Fails(() => broker.SendAsync(Address(), Message(1, meta: meta)), ErrorReasons.WrongInput);
        Assert.Equal("meta", ex.Field);
    }

    [Fact]
    public async Task Send_AfterFinish_AboveLastIdFailsAndGapFillIsAccepted()
    {
        var address = Address();
        await broker.SendIds(address, 1, 3);
        Assert.False(await broker.FinishStreamAsync(address, 3, "").DefaultTimeout());

        await Fails(() => broker.SendAsync(address, Message(4)), ErrorReasons.StreamAlreadyFinished);
        var fill = await broker.SendAsync(address, Message(2)).DefaultTimeout();
        Assert.False(fill.Duplicate);
        Assert.Equal(3UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
    }

    [Fact]
    public async Task FinishStream_RepeatedIdentical_IsDuplicateAndDifferentConflicts()
    {
        var address = Address();
        await broker.SendIds(address, 1, 2);
        await Fails(() => broker.FinishStreamAsync(address, 1, ""), ErrorReasons.WrongInput);
        Assert.False(await broker.FinishStreamAsync(address, 2, "next").DefaultTimeout());
        Assert.True(await broker.FinishStreamAsync(address, 2, "next").DefaultTimeout());
        await Fails(() => broker.FinishStreamAsync(address, 2, "other"), ErrorReasons.ConflictingDuplicate);
        await Fails(() => broker.FinishStreamAsync(Address("s2"), 0, "s2"), ErrorReasons.WrongInput);
    }

    [Fact]
    public async Task Send_BadNames_FailWithInvalidArgumentNamingTheField()
    {
        Assert.Equal("address.beamtime", (await Fails(() => broker.SendAsync(new StreamAddress("bad/bt"), Message(1)), ErrorReasons.WrongInput)).Field);
        Assert.Equal("address.stream", (await Fails(() => broker.SendAsync(Address("a\u0001"), Message(1)), ErrorReasons.WrongInput)).Field);
        Assert.Equal("name", (await Fails(() => broker.SendAsync(Address(), Message(1, name: "")), ErrorReasons.WrongInput)).Field);
        Assert.Equal("address.beamline", (await Fails(() => broker.SendAsync(new StreamAddress("auto", Beamline: "p02.2"), Message(1)), ErrorReasons.WrongInput)).Field);
        Assert.Empty(await broker.ListStreamsAsync(Address(), "", StreamFilter.All).DefaultTimeout());
    }

    [Fact]
    public async Task Send_AutoBeamtime_ResolvesThroughBeamlineMap()
    {
        var broker = new MessageBroker(new BrokerOptions { Beamlines = new Dictionary<string, string> { ["p02.2"] = Beamtime } });
        await broker.SendAsync(new StreamAddress("auto", "", "s", "p02.2"), Message(1)).DefaultTimeout();
        Assert.Equal(1UL, await broker.GetCurrentSizeAsync(Address("s")).DefaultTimeout());
    }
}
