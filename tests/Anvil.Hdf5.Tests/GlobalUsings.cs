global using Anvil.Testing;
