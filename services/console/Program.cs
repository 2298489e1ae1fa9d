var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddConsoleServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapConsole();
app.Run();
