/// Routes of this area (being built; see issue 7).
enum ProjectRoutes {
    static let routes: [APIRoute] = []
}
