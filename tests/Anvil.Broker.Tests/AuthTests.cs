using Anvil.Broker.Auth;
using BrokerErrorCode = Anvil.Broker.Core.BrokerErrorCode;
using BrokerException = Anvil.Broker.Core.BrokerException;
using Anvil.Broker.V1;
using Anvil.Testing;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;
using Grpc.Health.V1;

namespace Anvil.Broker.Tests;

/// <summary>A broker with auth on: the secret in a file, tokens minted with the same secret.</summary>
public sealed class AuthServerFixture : IAsyncLifetime
{
    private readonly TempDir dir = new();

    public BrokerServer Server { get; private set; } = null!;

    public string Secret { get; } = SigningKeys.NewSecret();

    public string RevocationFile => Path.Combine(dir.Path, "revoked.txt");

    public BrokerTokens Tokens { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var secretFile = Path.Combine(dir.Path, "secret");
        await File.WriteAllTextAsync(secretFile, Secret + "\n");
        await File.WriteAllTextAsync(RevocationFile, "# revoked token ids\nrevoked-jti\n");
        Tokens = new BrokerTokens(SigningKeys.Parse(Secret));
        Server = await BrokerServer.StartAsync(new Dictionary<string, string?>
        {
            ["Broker:Auth:Enabled"] = "true",
            ["Broker:Auth:SecretFile"] = secretFile,
            ["Broker:Auth:RevocationFile"] = RevocationFile,
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
        }, capture: Microsoft.Extensions.Logging.LogLevel.Trace);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        dir.Dispose();
    }
}

/// <summary>docs/broker.md §8 and checklist item 31: UNAUTHENTICATED and PERMISSION_DENIED for every way a token can be wrong.</summary>
public sealed class AuthTests(AuthServerFixture fixture) : IClassFixture<AuthServerFixture>
{
    private const string Beamtime = "bt-auth";
    private const string Other = "bt-other";

    private BrokerServer Server => fixture.Server;

    private static Address Stream(string stream, string beamtime = Beamtime) => new() { Beamtime = beamtime, Stream = stream };

    private static SendRequest Send(string stream, ulong id, string beamtime = Beamtime, SourceType source = SourceType.Processed) => new()
    {
        Address = Stream(stream, beamtime),
        Id = id,
        Name = $"frame_{id}",
        SourceType = source,
        Payload = ByteString.CopyFrom([1, 2, 3]),
    };

    private static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    private Metadata Token(BrokerAccess access, string beamtime = Beamtime) => Bearer(fixture.Tokens.Mint(beamtime, access));

    private static async Task<ErrorInfo> Fails(StatusCode code, string reason, Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => call().DefaultTimeout());
        Assert.Equal(code, ex.StatusCode);
        var info = ex.GetRpcStatus()!.GetDetail<ErrorInfo>()!;
        Assert.Equal(reason, info.Reason);
        return info;
    }

    [Fact]
    public async Task Send_NoToken_UnauthenticatedTokenMissing()
    {
        await Fails(StatusCode.Unauthenticated, "TOKEN_MISSING", () => Server.Producer.SendAsync(Send("a-none", 1)).ResponseAsync);
        await Fails(StatusCode.Unauthenticated, "TOKEN_MISSING", () =>
            Server.Consumer.ListStreamsAsync(new ListStreamsRequest { Address = Stream("") }).ResponseAsync);
    }

    [Fact]
    public async Task Send_TokenSignedWithAnotherSecret_UnauthenticatedTokenInvalid()
    {
        var foreign = new BrokerTokens(SigningKeys.Parse(SigningKeys.NewSecret())).Mint(Beamtime, BrokerAccess.Any);
        await Fails(StatusCode.Unauthenticated, "TOKEN_INVALID", () => Server.Producer.SendAsync(Send("a-foreign", 1), Bearer(foreign)).ResponseAsync);
    }

    [Fact]
    public async Task Send_TamperedClaims_UnauthenticatedTokenInvalid()
    {
        // Re-sign nothing: swap the claims of a read token for a forged "write" set; the signature no longer matches.
        var parts = fixture.Tokens.Mint(Beamtime, BrokerAccess.Read).Split('.');
        var forged = System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(
            $$"""{"sub":"bt_{{Beamtime}}","access":["write"],"iat":1,"exp":4102444800,"jti":"x"}"""));
        await Fails(StatusCode.Unauthenticated, "TOKEN_INVALID", () =>
            Server.Producer.SendAsync(Send("a-tamper", 1), Bearer($"{parts[0]}.{forged}.{parts[2]}")).ResponseAsync);
    }

    [Fact]
    public async Task Send_AlgNone_UnauthenticatedTokenInvalid()
    {
        static string B64(string json) => System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(json));
        var unsigned = B64("""{"alg":"none","typ":"JWT"}""") + "." + B64($$"""{"sub":"bt_{{Beamtime}}","access":["write"],"iat":1,"exp":4102444800,"jti":"x"}""") + ".";
        await Fails(StatusCode.Unauthenticated, "TOKEN_INVALID", () => Server.Producer.SendAsync(Send("a-algnone", 1), Bearer(unsigned)).ResponseAsync);
        await Fails(StatusCode.Unauthenticated, "TOKEN_INVALID", () => Server.Producer.SendAsync(Send("a-algnone", 1), Bearer("not-a-jwt")).ResponseAsync);
    }

    [Fact]
    public async Task Send_ExpiredToken_UnauthenticatedTokenExpired()
    {
        // Minted two hours ago with a one-hour lifetime: well past the 30 s leeway.
        var past = new ManualTimeProvider(DateTimeOffset.UtcNow.AddHours(-2));
        var expired = new BrokerTokens(SigningKeys.Parse(fixture.Secret), time: past).Mint(Beamtime, BrokerAccess.Any, TimeSpan.FromHours(1));
        await Fails(StatusCode.Unauthenticated, "TOKEN_EXPIRED", () => Server.Producer.SendAsync(Send("a-expired", 1), Bearer(expired)).ResponseAsync);
    }

    [Fact]
    public async Task Subscribe_TokenExpiringMidCall_EndsWithUnauthenticatedTokenExpired()
    {
        // exp is 29 s ago: still inside the 30 s leeway for about one more second, then the running call must end.
        var anHourAgo = new ManualTimeProvider(DateTimeOffset.UtcNow.AddHours(-1));
        var expiring = new BrokerTokens(SigningKeys.Parse(fixture.Secret), time: anHourAgo)
            .Mint(Beamtime, BrokerAccess.Read, TimeSpan.FromHours(1) - TimeSpan.FromSeconds(29));
        await Fails(StatusCode.Unauthenticated, "TOKEN_EXPIRED", async () =>
        {
            using var call = Server.Consumer.Subscribe(new SubscribeRequest { Address = Stream("a-expiring"), Group = "g", Prefetch = 1 }, Bearer(expiring));
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
    }

    [Fact]
    public async Task Send_RevokedJti_UnauthenticatedTokenRevoked()
    {
        var revoked = fixture.Tokens.Mint(Beamtime, BrokerAccess.Any, jti: "revoked-jti");
        await Fails(StatusCode.Unauthenticated, "TOKEN_REVOKED", () => Server.Producer.SendAsync(Send("a-revoked", 1), Bearer(revoked)).ResponseAsync);
    }

    [Fact]
    public async Task Send_ReadToken_PermissionDeniedNamingWrite()
    {
        var info = await Fails(StatusCode.PermissionDenied, "ACCESS_DENIED", () =>
            Server.Producer.SendAsync(Send("a-readonly", 1), Token(BrokerAccess.Read)).ResponseAsync);
        Assert.Equal("write", info.Metadata["required_access"]);
        var size = await Server.Consumer.GetCurrentSizeAsync(new CurrentSizeRequest { Address = Stream("a-readonly") }, Token(BrokerAccess.Read)).ResponseAsync.DefaultTimeout();
        Assert.Equal(0UL, size.Size);
    }

    [Fact]
    public async Task Send_RawSourceWithWriteToken_PermissionDeniedNamingWriteraw()
    {
        var info = await Fails(StatusCode.PermissionDenied, "ACCESS_DENIED", () =>
            Server.Producer.SendAsync(Send("a-raw", 1, source: SourceType.Raw), Token(BrokerAccess.Write)).ResponseAsync);
        Assert.Equal("writeraw", info.Metadata["required_access"]);
        var reply = await Server.Producer.SendAsync(Send("a-raw", 1, source: SourceType.Raw), Token(BrokerAccess.WriteRaw)).ResponseAsync.DefaultTimeout();
        Assert.Equal(1UL, reply.Id);
    }

    [Fact]
    public async Task GetNext_WriteToken_PermissionDeniedNamingRead()
    {
        await Server.Producer.SendAsync(Send("a-writeonly", 1), Token(BrokerAccess.Write)).ResponseAsync.DefaultTimeout();
        var info = await Fails(StatusCode.PermissionDenied, "ACCESS_DENIED", () => Server.Consumer.GetNextAsync(
            new GetNextRequest { Address = Stream("a-writeonly"), Group = "g" }, Token(BrokerAccess.Write)).ResponseAsync);
        Assert.Equal("read", info.Metadata["required_access"]);

        // ListStreams needs any access type, so the write token may list.
        var streams = await Server.Consumer.ListStreamsAsync(new ListStreamsRequest { Address = Stream("") }, Token(BrokerAccess.Write)).ResponseAsync.DefaultTimeout();
        Assert.Contains(streams.Streams, s => s.Name == "a-writeonly");
    }

    [Fact]
    public async Task EveryCallKind_TokenOfAnotherBeamtime_PermissionDeniedWrongBeamtime()
    {
        await Server.Producer.SendAsync(Send("a-iso", 1, Other), Token(BrokerAccess.Any, Other)).ResponseAsync.DefaultTimeout();
        var mine = Token(BrokerAccess.Any);
        await Fails(StatusCode.PermissionDenied, "WRONG_BEAMTIME", () => Server.Producer.SendAsync(Send("a-iso", 2, Other), mine).ResponseAsync);
        await Fails(StatusCode.PermissionDenied, "WRONG_BEAMTIME", () =>
            Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("a-iso", Other), Group = "g" }, mine).ResponseAsync);
        await Fails(StatusCode.PermissionDenied, "WRONG_BEAMTIME", () =>
            Server.Consumer.ListStreamsAsync(new ListStreamsRequest { Address = Stream("", Other) }, mine).ResponseAsync);
        await Fails(StatusCode.PermissionDenied, "WRONG_BEAMTIME", () =>
            Server.Consumer.ListGroupsAsync(new ListGroupsRequest { Address = Stream("", Other) }, mine).ResponseAsync);
        await Fails(StatusCode.PermissionDenied, "WRONG_BEAMTIME", () =>
            Server.Producer.DeleteStreamAsync(new DeleteStreamRequest { Address = Stream("a-iso", Other) }, mine).ResponseAsync);
        await Fails(StatusCode.PermissionDenied, "WRONG_BEAMTIME", () =>
            Server.Consumer.NewGroupIdAsync(new NewGroupIdRequest { Beamtime = Other }, mine).ResponseAsync);
        await Fails(StatusCode.PermissionDenied, "WRONG_BEAMTIME", async () =>
        {
            using var call = Server.Consumer.Subscribe(new SubscribeRequest { Address = Stream("a-iso", Other), Group = "g", Prefetch = 1 }, mine);
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });

        // Nothing of the other beamtime moved: its own token still reads id 1 for group g.
        var record = await Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("a-iso", Other), Group = "g" },
            Token(BrokerAccess.Read, Other)).ResponseAsync.DefaultTimeout();
        Assert.Equal(1UL, record.Id);
    }

    [Fact]
    public async Task SendBatch_OneMessageOfAnotherBeamtime_FailsAloneWithPermissionDenied()
    {
        using var call = Server.Producer.SendBatch(Token(BrokerAccess.Write));
        for (ulong id = 1; id <= 5; id++)
        {
            await call.RequestStream.WriteAsync(Send("a-batch", id, id == 3 ? Other : Beamtime)).DefaultTimeout();
        }

        await call.RequestStream.CompleteAsync().DefaultTimeout();
        var reply = await call.ResponseAsync.DefaultTimeout();
        var failed = Assert.Single(reply.Results, r => r.Code != 0);
        Assert.Equal((3UL, (int)StatusCode.PermissionDenied, "WRONG_BEAMTIME"), (failed.Id, failed.Code, failed.Reason));
        var size = await Server.Consumer.GetCurrentSizeAsync(new CurrentSizeRequest { Address = Stream("a-batch") }, Token(BrokerAccess.Read)).ResponseAsync.DefaultTimeout();
        Assert.Equal(4UL, size.Size);
    }

    [Fact]
    public async Task SendMany_OneMessageOfAnotherBeamtime_FailsAloneWithPermissionDenied()
    {
        var request = new SendManyRequest();
        request.Messages.AddRange(Enumerable.Range(1, 5).Select(id => Send("a-many", (ulong)id, id == 2 ? Other : Beamtime)));
        var reply = await Server.Producer.SendManyAsync(request, Token(BrokerAccess.Write)).ResponseAsync.DefaultTimeout();

        Assert.Equal([1UL, 2, 3, 4, 5], reply.Results.Select(r => r.Id));
        var failed = Assert.Single(reply.Results, r => r.Code != 0);
        Assert.Equal((2UL, (int)StatusCode.PermissionDenied, "WRONG_BEAMTIME"), (failed.Id, failed.Code, failed.Reason));
        var size = await Server.Consumer.GetCurrentSizeAsync(new CurrentSizeRequest { Address = Stream("a-many") }, Token(BrokerAccess.Read)).ResponseAsync.DefaultTimeout();
        Assert.Equal(4UL, size.Size);
    }

    [Fact]
    public async Task SendMany_NoToken_Unauthenticated()
    {
        var request = new SendManyRequest { Messages = { Send("a-many-anon", 1) } };
        await Fails(StatusCode.Unauthenticated, "TOKEN_MISSING", () => Server.Producer.SendManyAsync(request).ResponseAsync);
    }

    [Fact]
    public async Task SendBatch_NoToken_Unauthenticated()
    {
        await Fails(StatusCode.Unauthenticated, "TOKEN_MISSING", async () =>
        {
            using var call = Server.Producer.SendBatch();
            try
            {
                await call.RequestStream.WriteAsync(Send("a-batch-anon", 1)).DefaultTimeout();
                await call.RequestStream.CompleteAsync().DefaultTimeout();
            }
            catch (Exception ex) when (ex is RpcException or InvalidOperationException)
            {
                // The server may reject the call before the write lands; the write then fails without the status
                // details, which the response carries.
            }

            await call.ResponseAsync;
        });
    }

    [Fact]
    public async Task Send_MalformedBeamtimeWithValidToken_InvalidArgumentBeforeAuthorisation()
    {
        await Fails(StatusCode.InvalidArgument, "WRONG_INPUT", () => Server.Producer.SendAsync(Send("a-shape", 1, "bad/beamtime"), Token(BrokerAccess.Write)).ResponseAsync);
    }

    [Fact]
    public async Task WriteThenRead_MatchingTokens_Succeed()
    {
        await Server.Producer.SendAsync(Send("a-ok", 1), Token(BrokerAccess.Write)).ResponseAsync.DefaultTimeout();
        var record = await Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("a-ok"), Group = "g" }, Token(BrokerAccess.Read)).ResponseAsync.DefaultTimeout();
        Assert.Equal(1UL, record.Id);
        var group = await Server.Consumer.NewGroupIdAsync(new NewGroupIdRequest(), Token(BrokerAccess.Read)).ResponseAsync.DefaultTimeout();
        Assert.Equal(20, group.Group.Length);
    }

    [Fact]
    public async Task Logs_AtTraceLevel_NeverContainSecretOrToken()
    {
        var token = fixture.Tokens.Mint(Beamtime, BrokerAccess.Read);
        var foreign = new BrokerTokens(SigningKeys.Parse(SigningKeys.NewSecret())).Mint(Beamtime, BrokerAccess.Read);
        await Server.Producer.SendAsync(Send("a-logs", 1), Token(BrokerAccess.Write)).ResponseAsync.DefaultTimeout();
        await Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("a-logs"), Group = "g" }, Bearer(token)).ResponseAsync.DefaultTimeout();
        await Fails(StatusCode.Unauthenticated, "TOKEN_INVALID", () =>
            Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("a-logs"), Group = "g" }, Bearer(foreign)).ResponseAsync);
        await Fails(StatusCode.PermissionDenied, "ACCESS_DENIED", () => Server.Producer.SendAsync(Send("a-logs", 2), Bearer(token)).ResponseAsync);

        // The log did run at Trace (the denial is there, naming sub and jti) and holds no secret, token or signature.
        Assert.Contains(Server.LogLines, l => l.Contains("ACCESS_DENIED", StringComparison.Ordinal) && l.Contains("bt_" + Beamtime, StringComparison.Ordinal));
        Assert.Contains(Server.LogLines, l => l.Contains("Broker auth on", StringComparison.Ordinal));
        foreach (var line in Server.LogLines)
        {
            Assert.DoesNotContain(fixture.Secret, line, StringComparison.Ordinal);
            Assert.DoesNotContain(fixture.Secret[..16], line, StringComparison.Ordinal);
            foreach (var t in new[] { token, foreign })
            {
                Assert.DoesNotContain(t.Split('.')[1], line, StringComparison.Ordinal);
                Assert.DoesNotContain(t.Split('.')[2], line, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Health_NoToken_Serving()
    {
        var reply = await new Health.HealthClient(Server.Channel).CheckAsync(new HealthCheckRequest()).ResponseAsync.DefaultTimeout();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }
}

/// <summary>The token library without a server: minting, parsing, secrets.</summary>
public sealed class TokenTests
{
    [Fact]
    public void Mint_ThenAuthenticate_CarriesBeamtimeAccessAndJti()
    {
        var tokens = new BrokerTokens(SigningKeys.Parse(SigningKeys.NewSecret()));
        var principal = tokens.Authenticate("Bearer " + tokens.Mint("11012345", BrokerAccess.Read | BrokerAccess.Write, jti: "j1"));
        Assert.Equal(("11012345", BrokerAccess.Read | BrokerAccess.Write, "j1", "bt_11012345"),
            (principal.Beamtime, principal.Access, principal.Jti, principal.Subject));
    }

    [Fact]
    public void Authenticate_TokenOfAnOlderKeyAfterRotation_StillValid()
    {
        var old = SigningKeys.NewSecret();
        var token = new BrokerTokens(SigningKeys.Parse(old)).Mint("bt", BrokerAccess.Read);
        var rotated = new BrokerTokens(SigningKeys.Parse(old + "\n" + SigningKeys.NewSecret()));
        Assert.Equal("bt", rotated.Authenticate("Bearer " + token).Beamtime);
        Assert.NotEqual(rotated.Keys.Keys[0].Kid, rotated.Keys.Current.Kid);
    }

    [Fact]
    public void Authenticate_Failures_NeverEchoTheTokenOrSecret()
    {
        var secret = SigningKeys.NewSecret();
        var token = new BrokerTokens(SigningKeys.Parse(SigningKeys.NewSecret())).Mint("bt", BrokerAccess.Read);
        var tokens = new BrokerTokens(SigningKeys.Parse(secret));
        foreach (var header in new[] { "Bearer " + token, "Bearer " + token[..^3], "Basic " + token })
        {
            var ex = Assert.Throws<BrokerException>(() => tokens.Authenticate(header));
            Assert.Equal(BrokerErrorCode.Unauthenticated, ex.Code);
            Assert.DoesNotContain(token.Split('.')[2][..10], ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(secret[..10], ex.Message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(secret[..10], tokens.Keys.Current.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, true, "exactly one")]
    [InlineData(false, false, "no signing secret")]
    public void Load_BothOrNeitherSource_RefusesWithWhatToSet(bool file, bool env, string expected)
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "secret");
        File.WriteAllText(path, SigningKeys.NewSecret());
        var ex = Assert.Throws<AuthConfigurationException>(() => SigningKeys.Load(file ? path : null, env ? SigningKeys.NewSecret() : null));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BrokerStart_AuthOnWithoutSecret_RefusesToStartSayingWhatToSet()
    {
        Assert.True(string.IsNullOrEmpty(Environment.GetEnvironmentVariable(SigningKeys.EnvironmentVariable)), "the test needs ANVIL_BROKER_SECRET unset");
        var ex = await Assert.ThrowsAsync<AuthConfigurationException>(() => BrokerServer.StartAsync(new Dictionary<string, string?> { ["Broker:Auth:Enabled"] = "true" }));
        Assert.Contains("Broker:Auth:SecretFile", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ShortOrNonBase64Secret_Refused()
    {
        Assert.Contains("at least 32", Assert.Throws<AuthConfigurationException>(() => SigningKeys.Parse(Convert.ToBase64String(new byte[16]))).Message, StringComparison.Ordinal);
        Assert.Contains("not base64", Assert.Throws<AuthConfigurationException>(() => SigningKeys.Parse("%%%")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AccessNames_ParseAndDescribe_RoundTrip()
    {
        Assert.Equal(BrokerAccess.Read | BrokerAccess.WriteRaw, BrokerAccessNames.Parse("read, writeraw"));
        Assert.Equal("read|write|writeraw", BrokerAccessNames.Describe(BrokerAccess.Any));
        Assert.Throws<FormatException>(() => BrokerAccessNames.Parse("admin"));
    }
}
