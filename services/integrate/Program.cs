var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddIntegrateServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapGrpcService<Anvil.Workers.WorkerStatusService>();
app.Run();
