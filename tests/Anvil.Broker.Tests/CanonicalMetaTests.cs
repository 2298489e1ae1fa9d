using System.Text;
using Anvil.Broker.Core;

namespace Anvil.Broker.Tests;

/// <summary>
/// The send path's metadata check (issue 3): already-canonical metadata is accepted as it is, anything else goes
/// through the full canonicaliser, and both give the same stored form and the same errors.
/// </summary>
public sealed class CanonicalMetaTests
{
    public static TheoryData<string> Objects() =>
    [
        "{}",
        "{ }",
        "{\"a\":1}",
        "{\"b\":1,\"a\":2}",
        "{\"a\":1,\"b\":{\"d\":[1,2,{\"z\":null,\"y\":true}],\"c\":false}}",
        "{\"a\": 1}",
        "{\"a\":1} ",
        " {\"a\":1}",
        "{\"a\":\"x<y\"}",
        "{\"a\":\"x\\u0041\"}",
        "{\"a\":\"caf\u00e9\"}",
        "{\"\u00e9\":1,\"e\":2}",
        "{\"a\":\"tab\\t\"}",
        "{\"a\":\"quote\\\"\"}",
        "{\"a\":1.50,\"b\":-0,\"c\":1e5,\"d\":1E+5}",
        "{\"a\":[],\"b\":{},\"c\":[[]]}",
        "{\"a\":\"+&'`\"}",
        "{\"Z\":1,\"a\":2,\"_\":3}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":{\"b\":1,\"b\":1}}",
        "{\"aa\":1,\"a\":2}",
        "{\"a\":1,\"aa\":2}",
        "{\"detector\":\"lambda2m\",\"pad\":\"xxxxxxxxxxxxxxxx\"}",
    ];

    public static TheoryData<string> Invalid() =>
    [
        "[]",
        "1",
        "\"a\"",
        "null",
        "{",
        "{\"a\":1,}",
        "{\"a\":1}{}",
        "{\"a\":1} x",
        "{/*c*/\"a\":1}",
        "{'a':1}",
    ];

    [Theory]
    [MemberData(nameof(Objects))]
    public void CanonicalObjectUtf8_AnyObject_MatchesTheFullCanonicaliser(string json)
    {
        Exception? full = null;
        string? expected = null;
        try
        {
            expected = Validation.CanonicalObject(json, "meta", Validation.MaxMetaBytes);
        }
        catch (BrokerException ex)
        {
            full = ex;
        }

        if (full is not null)
        {
            var fast = Assert.Throws<BrokerException>(() => Validation.CanonicalObjectUtf8(json, "meta", Validation.MaxMetaBytes));
            Assert.Equal(full.Message, fast.Message);
            return;
        }

        Assert.Equal(expected, Encoding.UTF8.GetString(Validation.CanonicalObjectUtf8(json, "meta", Validation.MaxMetaBytes)));

        // The canonical form passes the check as it is, and the check accepts nothing that is not canonical.
        Assert.Equal(Encoding.UTF8.GetBytes(expected!).All(b => b < 0x80) && !expected!.Contains('\\'), Validation.IsCanonical(Encoding.UTF8.GetBytes(expected!)));
        Assert.True(!Validation.IsCanonical(Encoding.UTF8.GetBytes(json)) || json == expected);
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void CanonicalObjectUtf8_NotAnObject_FailsLikeTheFullCanonicaliser(string json)
    {
        var full = Assert.Throws<BrokerException>(() => Validation.CanonicalObject(json, "meta", Validation.MaxMetaBytes));
        var fast = Assert.Throws<BrokerException>(() => Validation.CanonicalObjectUtf8(json, "meta", Validation.MaxMetaBytes));
        Assert.Equal(full.Message, fast.Message);
        Assert.False(Validation.IsCanonical(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void CanonicalObjectUtf8_EmptyString_IsTheEmptyObject() =>
        Assert.Equal("{}"u8.ToArray(), Validation.CanonicalObjectUtf8(string.Empty, "meta", Validation.MaxMetaBytes));
}
