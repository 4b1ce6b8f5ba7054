module github.com/mml-project/mml/bindings/go

go 1.22
