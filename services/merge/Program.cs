var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMergeServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapGrpcService<Anvil.Workers.WorkerStatusService>();
app.MapGrpcService<Anvil.Merge.Service.Merging.LivePressureService>();
app.Run();
