using Anvil.Broker.Service.Extensions;
using Anvil.Broker.Service.Grpc;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddBrokerServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapGrpcService<ProducerService>();
app.MapGrpcService<ConsumerService>();
app.Run();
