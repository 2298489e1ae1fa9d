var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddIngestServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapGrpcService<Anvil.Ingest.Service.Grpc.IngestService>();
app.MapGrpcService<Anvil.Ingest.Service.Grpc.ControlService>();
app.Run();
