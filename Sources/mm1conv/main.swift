import MM1ConvCommands

MM1Conv.prepareProcess()
MM1Conv.main()
