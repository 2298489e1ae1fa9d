using Anvil.Broker.Core;
using Anvil.Broker.V1;
using Anvil.Testing;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>docs/broker.md §4.9 and checklist item 25: the metadata query subset.</summary>
public sealed class QueryTests
{
    private readonly MessageBroker broker = new(new BrokerOptions());
    private readonly StreamAddress address = Address("query");

    private async Task Seed()
    {
        var metas = new[]
        {
            "{\"a\":{\"b\":1},\"kind\":\"dark\",\"ok\":true}",
            "{\"a\":{\"b\":2},\"kind\":\"flat\",\"ok\":false}",
            "{\"a\":{\"b\":3},\"kind\":\"data\",\"ok\":true}",
            "{\"a\":{\"b\":\"3\"},\"kind\":\"data\"}",
            "{\"kind\":\"it's\"}",
        };
        for (var i = 0; i < metas.Length; i++)
        {
            await broker.SendAsync(address, Message((ulong)i + 1, meta: metas[i])).DefaultTimeout();
        }
    }

    private async Task<ulong[]> Ids(string expression, uint max = 0)
    {
        var result = await broker.QueryAsync(address, expression, max).DefaultTimeout();
        return [.. result.Records.Select(r => r.Id)];
    }

    [Theory]
    [InlineData("meta.a.b = 2", new ulong[] { 2 })]
    [InlineData("meta.a.b != 2", new ulong[] { 1, 3 })] // "3" (a string) and the missing field never match
    [InlineData("meta.a.b < 2", new ulong[] { 1 })]
    [InlineData("meta.a.b <= 2", new ulong[] { 1, 2 })]
    [InlineData("meta.a.b > 2", new ulong[] { 3 })]
    [InlineData("meta.a.b >= 2.0", new ulong[] { 2, 3 })]
    [InlineData("meta.a.b = '3'", new ulong[] { 4 })]
    [InlineData("meta.kind IN ('dark', 'data')", new ulong[] { 1, 3, 4 })]
    [InlineData("meta.kind NOT IN ('dark', 'data')", new ulong[] { 2, 5 })]
    [InlineData("meta.a.b BETWEEN 2 AND 3", new ulong[] { 2, 3 })]
    [InlineData("meta.a.b NOT BETWEEN 2 AND 3", new ulong[] { 1 })]
    [InlineData("meta.ok = true", new ulong[] { 1, 3 })]
    [InlineData("meta.ok < true", new ulong[] { })]
    [InlineData("meta.kind = 'it''s'", new ulong[] { 5 })]
    [InlineData("_id > 3 or id = 1", new ulong[] { 1, 4, 5 })]
    [InlineData("meta.kind = 'data' OR meta.kind = 'dark' AND meta.ok = false", new ulong[] { 3, 4 })]
    [InlineData("(meta.kind = 'data' OR meta.kind = 'dark') AND meta.ok = true", new ulong[] { 1, 3 })]
    [InlineData("name = 'frame_00002'", new ulong[] { 2 })]
    [InlineData("size = 4 AND timestamp > 0", new ulong[] { 1, 2, 3, 4, 5 })]
    [InlineData("meta.a = 1", new ulong[] { })]
    public async Task Query_EachOperator_MatchesExactly(string expression, ulong[] expected)
    {
        await Seed();
        Assert.Equal(expected, await Ids(expression));
    }

    [Fact]
    public async Task Query_OrderByAndLimit_SortsBoundsAndReportsTruncation()
    {
        await Seed();
        Assert.Equal([3UL, 2, 1, 4, 5], await Ids("id >= 1 ORDER BY meta.a.b DESC"));
        Assert.Equal([1UL, 2, 3, 4, 5], await Ids("id >= 1 order by meta.a.b asc"));
        var top = await broker.QueryAsync(address, "id >= 1 ORDER BY id DESC", 2).DefaultTimeout();
        Assert.Equal([5UL, 4], top.Records.Select(r => r.Id));
        Assert.True(top.Truncated);
        var first = await broker.QueryAsync(address, "id >= 1", 2).DefaultTimeout();
        Assert.Equal([1UL, 2], first.Records.Select(r => r.Id));
        Assert.True(first.Truncated);
        Assert.True(first.Records.All(r => r.Payload.IsEmpty));
    }

    [Fact]
    public async Task Query_DatasetParts_MatchOneByOne()
    {
        await broker.SendAsync(address, Message(1, meta: "{\"m\":1}", substream: 1, size: 2)).DefaultTimeout();
        await broker.SendAsync(address, Message(1, meta: "{\"m\":2}", substream: 2, size: 2)).DefaultTimeout();
        var result = await broker.QueryAsync(address, "meta.m = 2", 0).DefaultTimeout();
        Assert.Equal(2u, Assert.Single(result.Records).DatasetSubstream);
    }

    [Theory]
    [InlineData("meta.a REGEXP 'x'", 7)]
    [InlineData("meta.a LIKE 'x%'", 7)]
    [InlineData("meta.a = ", 9)]
    [InlineData("color = 1", 0)]
    [InlineData("meta.a = 1 AND", 14)]
    [InlineData("(meta.a = 1", 11)]
    [InlineData("meta.a = 'open", 9)]
    [InlineData("meta.a = 1 ORDER BY id LIMIT 3", 23)]
    [InlineData("upper(name) = 'X'", 0)]
    [InlineData("", 0)]
    public async Task Query_BadExpression_BadQueryWithPosition(string expression, int position)
    {
        await Seed();
        var ex = await Fails(() => broker.QueryAsync(address, expression, 0), ErrorReasons.BadQuery);
        Assert.Equal(BrokerErrorCode.InvalidArgument, ex.Code);
        Assert.Equal(position.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Metadata["position"]);
    }

    [Fact]
    public async Task Query_LimitsExceeded_InvalidArgument()
    {
        await Fails(() => broker.QueryAsync(address, "id = 1", 10_001), ErrorReasons.WrongInput);
        await Fails(() => broker.QueryAsync(address, "id = 1 AND " + new string('x', 5000), 0), ErrorReasons.BadQuery);
        await Fails(() => broker.QueryAsync(address, new string('(', 40) + "id = 1" + new string(')', 40), 0), ErrorReasons.BadQuery);
        await Fails(() => broker.QueryAsync(address, "id IN (" + string.Join(",", Enumerable.Range(1, 1001)) + ")", 0), ErrorReasons.BadQuery);
        await Fails(() => broker.QueryAsync(address, "meta.a.b.c.d.e.f.g.h.i = 1", 0), ErrorReasons.BadQuery);
    }

    [Fact]
    public async Task Query_ThroughGrpc_ReturnsRecords()
    {
        await using var server = await BrokerServer.StartAsync();
        var address = new Anvil.Broker.V1.Address { Beamtime = Beamtime, Stream = "q" };
        for (ulong id = 1; id <= 3; id++)
        {
            await server.Producer.SendAsync(new SendRequest { Address = address, Id = id, Name = $"f{id}", Meta = $"{{\"n\":{id}}}" })
                .ResponseAsync.DefaultTimeout();
        }

        var reply = await server.Consumer.QueryAsync(new QueryRequest { Address = address, Expression = "meta.n >= 2" }).ResponseAsync.DefaultTimeout();
        Assert.Equal([2UL, 3], reply.Records.Select(r => r.Id));
        Assert.False(reply.Truncated);
    }
}
