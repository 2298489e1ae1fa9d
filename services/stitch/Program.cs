var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddStitchServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapGrpcService<Anvil.Workers.WorkerStatusService>();
app.Run();
