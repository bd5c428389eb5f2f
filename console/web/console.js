// tandem console page
