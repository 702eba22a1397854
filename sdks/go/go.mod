module github.com/stigmem/stigmem-vault/sdks/go

go 1.19
